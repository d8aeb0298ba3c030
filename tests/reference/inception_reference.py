#!/usr/bin/python3
"""PyTorch reference for ibq's FID Inception (include/ibq/metrics/inception.hpp) and its forward-only ops.

Run with the system interpreter (PyTorch 1.13 CPU, torchvision 0.14, h5py, numpy):
    /usr/bin/python3 tests/reference/inception_reference.py OUT_DIR       # the parity test's files
    /usr/bin/python3 tests/reference/inception_reference.py --ops-fixture  # tests/fixtures/resize_pool.h5

The network is pytorch-fid's fid_inception_v3() (torchvision's Inception3(num_classes=1008,
aux_logits=False, transform_input=False, init_weights=False) with FIDInceptionA/C/E_1/E_2 swapped in), as
hpc/make_inception_weights.py builds it; this script imports that file for the network, the random weights
and the HDF5 writer, so the test reads the same format as real weights.

OUT_DIR gets (about 95 MB, too large to commit: the parity test makes them in its build folder):
  inception_weights.h5  random float32 weights (make_inception_weights.random_fid_inception(seed 20261203):
                        default init, random BatchNorm gamma and beta, statistics measured on noise)
  inception_fixture.h5  per case <name>/: the input, and pool3 [N, 2048] and logits [N, 1008] (pool3 fc.weight^T,
                        no bias) computed in float64 from the same float32 weights, so the C++ float32 result is
                        compared with the exact answer, not with another float32 rounding of it. Cases:
                          small  float [2, 3, 37, 53] in [0, 1]      (forward)
                          full   float [1, 3, 299, 299] in [0, 1]    (forward; the resize is the identity)
                          uint8  uint8 [2, 40, 31, 3] NHWC           (forward_uint8_nhwc: value / 255)
                          signed float [1, 3, 64, 48] in [-1.2, 1.2] (forward_minus1_1: clamped, (x + 1) / 2)

--ops-fixture writes the small committed fixture of the ops alone, in float32 as the C++ runs them
(F.interpolate(mode='bilinear', align_corners=False), F.max_pool2d, F.avg_pool2d(count_include_pad=False)):
  resize/<case>/{x, y}   up 7x5 -> 11x13, down 37x53 -> 19x23, one axis kept 7x5 -> 7x9, and 9x7 -> 299x299 of
                         which only the rows listed in `rows` are stored (the whole output is 350 KB)
  max_pool/s<stride>p<pad>/{x, y}, avg_pool/s<stride>p<pad>/{x, y} for (2, 0), (1, 1), (2, 1), on x [2, 3, 9, 11]
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "hpc"))
import make_inception_weights as miw  # noqa: E402

SEED = 20261203


def parity_files(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    net = miw.random_fid_inception(SEED)
    weights = os.path.join(out_dir, "inception_weights.h5")
    miw.write_weights(net.state_dict(), weights, "random weights for tests (inception_reference.py, seed %d)" % SEED)
    net = net.double()  # float32 values, float64 arithmetic
    g = torch.Generator().manual_seed(SEED + 2)
    small = torch.rand(2, 3, 37, 53, generator=g)
    full = torch.rand(1, 3, 299, 299, generator=g)
    u8 = torch.randint(0, 256, (2, 40, 31, 3), generator=g, dtype=torch.uint8)
    signed = 2.4 * torch.rand(1, 3, 64, 48, generator=g) - 1.2
    cases = {  # name: (input as stored, the [0, 1] float images pytorch-fid sees)
        "small": (small, small),
        "full": (full, full),
        "uint8": (u8, u8.permute(0, 3, 1, 2).double() / 255),
        "signed": (signed, (signed.double().clamp(-1, 1) + 1) / 2),
    }
    path = os.path.join(out_dir, "inception_fixture.h5")
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f, torch.no_grad():
        f.attrs["weights"] = os.path.basename(weights)
        for name, (stored, images) in cases.items():
            pool3, logits = miw.pool3_and_logits(net, images.double())
            f[name + "/x"] = stored.numpy()
            f[name + "/pool3"] = pool3.numpy()
            f[name + "/logits"] = logits.numpy()
            print("%-6s input %s  pool3 max %.4g  logits max |.| %.4g" % (name, list(stored.shape), pool3.max(),
                                                                         logits.abs().max()))
    os.replace(tmp, path)
    print("wrote %s and %s" % (weights, path))


def ops_fixture(path):
    g = torch.Generator().manual_seed(SEED + 3)
    rand = lambda *s: torch.rand(*s, generator=g) * 4 - 2  # noqa: E731
    with h5py.File(path, "w") as f:
        for name, shape, size in [("up", (1, 2, 7, 5), (11, 13)), ("down", (1, 1, 37, 53), (19, 23)),
                                  ("keep_rows", (1, 2, 7, 5), (7, 9))]:
            x = rand(*shape)
            f["resize/%s/x" % name] = x.numpy()
            f["resize/%s/y" % name] = F.interpolate(x, size=size, mode="bilinear", align_corners=False).numpy()
        x = rand(1, 1, 9, 7)
        y = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        rows = np.array(sorted(set(range(0, 299, 23)) | {1, 2, 297, 298}), dtype=np.int64)
        f["resize/to299/x"] = x.numpy()
        f["resize/to299/rows"] = rows
        f["resize/to299/y"] = y[:, :, rows, :].numpy()
        x = rand(2, 3, 9, 11)
        x[0, 1, 4, 5] = float("nan")  # a NaN wins every max window that holds it, as in PyTorch
        for stride, pad in [(2, 0), (1, 1), (2, 1)]:
            key = "s%dp%d" % (stride, pad)
            f["max_pool/%s/x" % key] = x.numpy()
            f["max_pool/%s/y" % key] = F.max_pool2d(x, 3, stride, pad).numpy()
            xa = rand(2, 3, 9, 11)
            f["avg_pool/%s/x" % key] = xa.numpy()
            f["avg_pool/%s/y" % key] = F.avg_pool2d(xa, 3, stride, pad, count_include_pad=False).numpy()
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", help="folder for inception_weights.h5 and inception_fixture.h5")
    ap.add_argument("--ops-fixture", nargs="?", const=os.path.join(ROOT, "tests", "fixtures", "resize_pool.h5"),
                    metavar="PATH", help="write the ops fixture (default tests/fixtures/resize_pool.h5)")
    a = ap.parse_args()
    if not a.out_dir and not a.ops_fixture:
        ap.error("give OUT_DIR, or --ops-fixture")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if a.ops_fixture:
        ops_fixture(a.ops_fixture)
    if a.out_dir:
        parity_files(a.out_dir)


if __name__ == "__main__":
    main()
