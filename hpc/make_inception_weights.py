#!/usr/bin/env python3
"""Writes the FID Inception weights that ibq's include/ibq/metrics/inception.hpp loads, as one HDF5 file.

    python3 hpc/make_inception_weights.py pt_inception-2015-12-05-6726825d.pth pt_inception.h5
    python3 hpc/make_inception_weights.py --random OUT.h5 [--seed S]      # random weights, for tests

The input is pytorch-fid's FID weights (the TensorFlow FID graph's Inception, ported to PyTorch), downloaded
once on a machine with network access:
    https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
Needs PyTorch, torchvision and h5py (torch.load reads the file; nothing is downloaded here).

The file holds the state dict's tensors under their own names as float32 datasets at the root, and the
root attributes format = "ibq-inception" and source: per BasicConv2d `<name>.conv.weight` [out, in, kh, kw]
and `<name>.bn.{weight,bias,running_mean,running_var}` [out]; `fc.weight` [1008, 2048] and `fc.bias` [1008].
Every tensor of pytorch-fid's fid_inception_v3() must be in the input with its shape; BatchNorm's
num_batches_tracked counters are skipped, and any other key is reported as unused. The output is written to
a temporary name and renamed, so a failed run never leaves a half-written file.

--random builds the same network (fid_inception_v3() below) with PyTorch's default initialisation, random
BatchNorm affine parameters and statistics measured on noise images (random_fid_inception()), so activations
stay O(1) through all 94 convolutions and a test of the BatchNorm folding sees non-trivial statistics.
tests/reference/inception_reference.py imports this file for the network and the writer.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import durable  # noqa: E402

FID_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")
FORMAT = "ibq-inception"


def _modules():
    try:
        import h5py  # noqa: F401
        import torch
        import torchvision  # noqa: F401
    except ImportError as e:
        sys.exit("make_inception_weights: %s; install PyTorch, torchvision and h5py" % e)
    return torch


def fid_inception_v3():
    """pytorch-fid's fid_inception_v3() without its download: torchvision's Inception3 (1008 classes, no aux
    logits, no input transform) with the FID blocks swapped in. The FID blocks keep torchvision's layers (and
    so their state-dict names) and change only their pools: average pools leave the padding out of the count
    (TensorFlow's rule), and Mixed_7c's pool branch max-pools instead."""
    torch = _modules()
    import torch.nn.functional as F
    from torchvision.models import inception as tvi

    class FIDInceptionA(tvi.InceptionA):
        def forward(self, x):
            b1 = self.branch1x1(x)
            b5 = self.branch5x5_2(self.branch5x5_1(x))
            b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
            return torch.cat([b1, b5, b3, bp], 1)

    class FIDInceptionC(tvi.InceptionC):
        def forward(self, x):
            b1 = self.branch1x1(x)
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            d = self.branch7x7dbl_1(x)
            d = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(self.branch7x7dbl_2(d))))
            bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
            return torch.cat([b1, b7, d, bp], 1)

    class FIDInceptionE(tvi.InceptionE):
        def __init__(self, in_channels, max_pool):
            super().__init__(in_channels)
            self.max_pool = max_pool  # FIDInceptionE_2 (Mixed_7c) max-pools; FIDInceptionE_1 averages

        def forward(self, x):
            b1 = self.branch1x1(x)
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
            if self.max_pool:
                p = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
            else:
                p = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
            return torch.cat([b1, b3, d, self.branch_pool(p)], 1)

    net = tvi.Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE(1280, max_pool=False)
    net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
    return net.eval()


def pool3_and_logits(net, x):
    """pytorch-fid's InceptionV3 forward (resize to 299x299, 2x - 1, the blocks, adaptive average pool) on x in
    [0, 1], and the TF graph's logits pool3 @ fc.weight^T without the bias."""
    import torch.nn.functional as F
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    x = 2 * x - 1
    for name in ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                 "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool"]:
        x = getattr(net, name)(x)
    pool3 = x.flatten(1)
    return pool3, pool3 @ net.fc.weight.t()


def random_fid_inception(seed):
    """The FID network with random float32 weights: PyTorch's default initialisation for the convolutions and
    fc, BatchNorm gamma in [0.5, 1.5] and beta in [0.3, 1.0], and running statistics measured on four noise
    images, two of them upsampled from 37x53 (train mode, cumulative average). Every layer's output is then
    normalised as in a trained network, and activations stay O(1) through the 94 convolutions in eval mode,
    for sharp and for smooth images (statistics of noise alone let upsampled images grow to pool3 values of
    ~500). The measured statistics (means far from 0, variances far from 1) are perturbed a little, so that
    folding them into the convolutions is really exercised.
    Why positive betas: a random BatchNorm + ReLU network amplifies rounding errors about 1.5x per block (its
    ReLUs switch on and off chaotically); with beta in [-0.3, 0.3], PyTorch's own float32 pool3 is 1.3e-4 of
    its scale away from float64. With beta in [0.3, 1.0] the ReLUs still clip about a quarter of the values,
    float32 stays within ~1e-5, and a 1e-4 tolerance separates rounding from mistakes."""
    torch = _modules()
    import torch.nn.functional as F
    torch.manual_seed(seed)
    net = fid_inception_v3()
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    g = torch.Generator().manual_seed(seed + 1)
    u = lambda c, lo, hi: lo + (hi - lo) * torch.rand(c, generator=g)  # noqa: E731
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(u(bn.num_features, 0.5, 1.5))
            bn.bias.copy_(u(bn.num_features, 0.3, 1.0))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
        net.train()
        smooth = F.interpolate(torch.rand(2, 3, 37, 53, generator=g), size=(299, 299), mode="bilinear")
        pool3_and_logits(net, torch.cat([torch.rand(2, 3, 299, 299, generator=g), smooth]))
        for bn in bns:
            c = bn.num_features
            bn.running_mean += 0.05 * bn.running_var.sqrt() * u(c, -1, 1)
            bn.running_var *= u(c, 0.9, 1.1)
            bn.momentum = 0.1
    return net.eval()


def expected_shapes(net=None):
    """Name -> shape of every tensor the C++ loads: fid_inception_v3()'s state dict without the counters."""
    net = net if net is not None else fid_inception_v3()
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def write_weights(state_dict, out, source):
    """Checks state_dict against expected_shapes() and writes it as float32 datasets, atomically. Returns the
    unused keys."""
    import h5py
    import numpy as np
    want = expected_shapes()
    missing = [k for k in want if k not in state_dict]
    if missing:
        sys.exit("make_inception_weights: %s lacks %d of the %d tensors of pytorch-fid's fid_inception_v3(), e.g. "
                 "%s; is it pt_inception-2015-12-05-6726825d.pth?"
                 % (source, len(missing), len(want), ", ".join(missing[:3])))
    for k, shape in want.items():
        got = tuple(state_dict[k].shape)
        if got != shape:
            sys.exit("make_inception_weights: %s: '%s' has shape %s, expected %s" % (source, k, list(got), list(shape)))
    unused = sorted(k for k in state_dict if k not in want and not k.endswith("num_batches_tracked"))
    tmp = "%s.tmp.%d" % (out, os.getpid())
    try:
        with h5py.File(tmp, "w", libver=durable.H5_LIBVER) as f:
            f.attrs["format"] = FORMAT
            f.attrs["source"] = source
            ds = durable.Datasets(f)
            for k in want:
                ds.write(k, state_dict[k].detach().cpu().numpy().astype(np.float32))
            ds.write_manifest()
        durable.commit(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return unused


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", metavar="PATH", help="IN.pth OUT.h5 (or only OUT.h5 with --random)")
    ap.add_argument("--random", action="store_true", help="random weights instead of an input file")
    ap.add_argument("--seed", type=int, default=0, help="seed of --random")
    a = ap.parse_args()
    if len(a.paths) != (1 if a.random else 2):
        ap.error("give IN.pth OUT.h5, or --random OUT.h5")
    torch = _modules()
    if a.random:
        out = a.paths[0]
        write_weights(random_fid_inception(a.seed).state_dict(), out, "random weights (seed %d)" % a.seed)
        print("wrote random FID Inception weights (seed %d) to %s" % (a.seed, out))
        return
    src, out = a.paths
    if not os.path.exists(src):
        sys.exit("make_inception_weights: '%s' does not exist; download pytorch-fid's FID weights on a machine with "
                 "network access:\n    wget %s" % (src, FID_WEIGHTS_URL))
    state = torch.load(src, map_location="cpu")
    if not isinstance(state, dict):
        sys.exit("make_inception_weights: '%s' holds a %s, not a state dict" % (src, type(state).__name__))
    unused = write_weights(state, out, os.path.basename(src))
    for k in unused:
        print("make_inception_weights: unused tensor in %s: %s" % (src, k))
    print("wrote %d tensors of %s to %s" % (len(expected_shapes()), src, out))


if __name__ == "__main__":
    main()
