#!/usr/bin/python3
"""PyTorch peer for bench/inception.cpp: FID Inception features of a batch of images, timed.

    /usr/bin/python3 bench/inception_torch.py --threads 2 --batch 50 [--res 299] [--reps 3] [--channels-last]
        [--device cuda]

The network is pytorch-fid's fid_inception_v3() as hpc/make_inception_weights.py builds it (torchvision's
Inception3 with the FID blocks), in eval mode under torch.no_grad(), float32, plain NCHW tensors as
pytorch-fid feeds it, or with --channels-last model and input in torch.channels_last (NHWC, the layout ibq
keeps its activations in; not what pytorch-fid does). The forward is pytorch-fid's: F.interpolate to 299x299 (bilinear, align_corners=False),
2x - 1, the blocks, the average pool, and the logits pool3 @ fc.weight^T. Weights are random (He-uniform
convolutions, BatchNorm at its initial state), so activations keep their scale; the C++ side's random weights
differ, which timing does not mind. Prints a line naming torch, its oneDNN and thread count, then one JSON
line: seconds (median of --reps batches after a warm-up batch) and peak_mib (peak resident set, or peak
allocated device memory, above what the model and the input hold).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.join(os.path.dirname(here), "hpc")]
import make_inception_weights as miw  # noqa: E402
from peer_util import PeakMemory, add_device_option, check_device, sync  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, required=True)
    for name, default in [("batch", 50), ("res", 299), ("reps", 3)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--channels-last", action="store_true", help="NHWC model and input (torch.channels_last)")
    add_device_option(ap)
    args = ap.parse_args()
    dev = check_device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = miw.fid_inception_v3()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    net = net.to(dev).eval().to(memory_format=fmt)
    x = torch.rand(args.batch, 3, args.res, args.res, device=dev).contiguous(memory_format=fmt)
    mkldnn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    onednn = next((line.split("MKL-DNN")[1].split("(")[0].strip() for line in torch.__config__.show().splitlines()
                   if "MKL-DNN" in line), "?")
    print("torch %s: %s, oneDNN %s%s, %d threads%s" % (torch.__version__, dev, onednn, "" if mkldnn else " (off)",
                                                      torch.get_num_threads(),
                                                      ", channels_last" if args.channels_last else ""), flush=True)
    memory = PeakMemory(dev)
    memory.start()

    def run():
        with torch.no_grad():
            pool3, logits = miw.pool3_and_logits(net, x)
        sync(dev)
        return pool3, logits

    run()  # warm-up: oneDNN primitives, page faults
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": statistics.median(times), "peak_mib": memory.peak_mib()}))


if __name__ == "__main__":
    main()
