#!/usr/bin/python3
"""PyTorch peer for bench_gemm_conv: the same GEMM and conv2d shapes, in GFLOP/s, printed as one JSON object.

Run with the system interpreter (PyTorch 1.13 CPU):
    /usr/bin/python3 bench/peer_torch.py --threads 2 [--reps 5] [--quick]

Timing matches the C++ bench: one warm-up, then the median of --reps runs. Keys: gemm_<n> (torch.mm,
float32 n x n x n), conv_fwd_<label> and conv_fwdbwd_<label> (F.conv2d forward, and forward + backward
with x, weight and bias requiring grad). A conv's FLOPs are 2*N*Cout*Ho*Wo*Cin*kh*kw forward, 3x that for
forward + backward (dx and dw each cost one forward), the same count the C++ side uses.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

# label: (N, Cin, Cout, H, W, k, stride, pad) -- must match bench_gemm_conv.cpp
CONVS = {
    "n4_c128_64x64_k3": (4, 128, 128, 64, 64, 3, 1, 1),
    "n4_c256_32x32_k3": (4, 256, 256, 32, 32, 3, 1, 1),
    "n4_c512_16x16_k3": (4, 512, 512, 16, 16, 3, 1, 1),
    "n4_c3to128_128x128_k3": (4, 3, 128, 128, 128, 3, 1, 1),
    "n16_c32_32x32_k3": (16, 32, 32, 32, 32, 3, 1, 1),
    "n16_c64_16x16_k3": (16, 64, 64, 16, 16, 3, 1, 1),
    "n16_c64_8x8_k3": (16, 64, 64, 8, 8, 3, 1, 1),
}


def median_seconds(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, required=True, help="torch.set_num_threads (match the C++ run)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the 2048^3 GEMM")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {"torch_version": str(torch.__version__), "threads": torch.get_num_threads(),
           "mkldnn": int(torch.backends.mkldnn.is_available())}

    with torch.no_grad():
        for n in (512, 1024) if args.quick else (512, 1024, 2048):
            a, b = torch.randn(n, n), torch.randn(n, n)
            c = torch.empty(n, n)
            t = median_seconds(lambda: torch.mm(a, b, out=c), args.reps)
            out[f"gemm_{n}"] = 2.0 * n ** 3 / t / 1e9

    for label, (n, cin, cout, h, w, k, s, p) in CONVS.items():
        x = torch.randn(n, cin, h, w)
        wt = torch.randn(cout, cin, k, k) * 0.05
        b = torch.randn(cout)
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        flops = 2.0 * n * cout * ho * wo * cin * k * k
        with torch.no_grad():
            t = median_seconds(lambda: F.conv2d(x, wt, b, stride=s, padding=p), args.reps)
        out[f"conv_fwd_{label}"] = flops / t / 1e9
        xg, wg, bg = (v.clone().requires_grad_(True) for v in (x, wt, b))
        gy = torch.randn(n, cout, ho, wo)

        def step():
            for v in (xg, wg, bg):
                v.grad = None
            F.conv2d(xg, wg, bg, stride=s, padding=p).backward(gy)

        t = median_seconds(step, args.reps)
        out[f"conv_fwdbwd_{label}"] = 3 * flops / t / 1e9
    print(json.dumps(out))


if __name__ == "__main__":
    main()
