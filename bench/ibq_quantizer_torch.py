#!/usr/bin/python3
"""PyTorch peer for bench/ibq_quantizer.cpp: one IBQ quantizer step of SEED-Voken's code, timed, with its peak memory.

    /usr/bin/python3 bench/ibq_quantizer_torch.py --threads 2 --n 1024 --d 256 --k 16384 [--reps 5]
                                                   [--variant reference|gather] [--device cuda]

The quantizer is tests/reference/ibq_reference.py's IndexPropagationQuantize, the transcription of
src/IBQ/modules/vqvae/quantize.py that the C++ tests' fixtures come from (float32 here). --variant gather
replaces its z_q_2 = einsum(hard_one_hot, E), an N x K x D GEMM of a one-hot, by the lookup E[ind]: a fairer
PyTorch that saves two of the reference's eight N x K x D GEMMs (forward and backward) and one N x K tensor.

The step and the inputs' distributions match the C++ bench: z [N/256, D, 16, 16] uniform in +-1/sqrt(D), E
uniform in +-sqrt(3), loss = L_Q + 0.05 L_ent + sum(z_q R) / N. Prints one JSON line: seconds (median of --reps
after a warm-up), peak_mib (peak resident set minus the resident set once the inputs exist; on a GPU the peak
of allocated device memory above what the inputs hold), loss. --device cuda runs it on a GPU (PyTorch 2.x).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.join(os.path.dirname(here), "tests", "reference")]
from ibq_reference import IndexPropagationQuantize, compute_entropy_loss  # noqa: E402
from peer_util import PeakMemory, add_device_option, check_device, sync  # noqa: E402


class GatherQuantize(IndexPropagationQuantize):
    """The reference with z_q_2 = E[ind] (same values and gradients, no one-hot GEMM)."""

    def forward(self, z, weight):
        logits = torch.einsum("b c h w, n c -> b n h w", z, weight)
        soft_one_hot = torch.softmax(logits, dim=1)
        ind = soft_one_hot.max(1, keepdim=True)[1]
        hard_one_hot = torch.zeros_like(logits).scatter_(1, ind, 1.0)
        one_hot = hard_one_hot - soft_one_hot.detach() + soft_one_hot
        z_q = torch.einsum("b n h w, n d -> b d h w", one_hot, weight)
        z_q_2 = weight[ind[:, 0]].permute(0, 3, 1, 2)
        quant_loss = (torch.mean((z_q - z) ** 2) + torch.mean((z_q_2.detach() - z) ** 2)
                      + self.beta * torch.mean((z_q_2 - z.detach()) ** 2))
        s, a, e = compute_entropy_loss(logits.permute(0, 2, 3, 1).reshape(-1, self.n_e), self.entropy_temperature)
        return z_q, (quant_loss, s, a, e), (None, None, torch.flatten(ind))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--variant", choices=["reference", "gather"], default="reference")
    add_device_option(ap)
    args = ap.parse_args()
    dev = check_device(args.device)
    torch.set_num_threads(args.threads)
    n, d, k = args.n, args.d, args.k
    shape = (n // 256, d, 16, 16) if n % 256 == 0 else (1, d, 1, n)
    g = torch.Generator().manual_seed(0)
    z = ((torch.rand(shape, generator=g) * 2 - 1) / d ** 0.5).to(dev).requires_grad_()
    e = ((torch.rand(k, d, generator=g) * 2 - 1) * 3 ** 0.5).to(dev).requires_grad_()
    r = (torch.rand(shape, generator=g) * 2 - 1).to(dev)
    quant = (GatherQuantize if args.variant == "gather" else IndexPropagationQuantize)(k, d, 0.25)
    memory = PeakMemory(dev)
    memory.start()
    loss_value = [0.0]

    def step():
        z.grad = None
        e.grad = None
        z_q, (quant_loss, _, _, entropy_loss), _ = quant.forward(z, e)
        loss = quant_loss + 0.05 * entropy_loss + (z_q * r).sum() / n
        loss.backward()
        sync(dev)
        loss_value[0] = float(loss)

    step()  # warm-up
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": statistics.median(times), "peak_mib": memory.peak_mib(), "loss": loss_value[0],
                      "threads": torch.get_num_threads(), "torch": str(torch.__version__), "device": str(dev)}))


if __name__ == "__main__":
    main()
