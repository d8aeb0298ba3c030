#!/usr/bin/env python3
"""Writes the LPIPS (VGG16, v0.1) weights that ibq's perceptual loss loads, as one HDF5 file.

    python3 hpc/make_lpips_weights.py lpips_vgg16.h5 [--heads PATH/TO/vgg.pth]

Needs PyTorch, torchvision, h5py and a machine that can download torchvision's ImageNet VGG16
(vgg16-397923af.pth) once. The five learned 1x1 heads come from the LPIPS project's v0.1 file `vgg.pth`:
given with --heads, or taken from an installed `lpips` package (pip install lpips), which ships it.
Names in the file: torchvision's `features.<i>.weight|bias` for the 13 convolutions of VGG16 and LPIPS's
`lin<k>.model.1.weight` [1, C, 1, 1] for the heads, float32, at the root. Then train with
    --loss.perceptual_weight=1.0 --loss.lpips_weights=lpips_vgg16.h5
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import durable  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="HDF5 file to write")
    ap.add_argument("--heads", help="LPIPS v0.1 vgg.pth (default: the one inside the installed lpips package)")
    a = ap.parse_args()
    try:
        import h5py
        import torch
        import torchvision
    except ImportError as e:
        sys.exit("make_lpips_weights: %s; install PyTorch, torchvision and h5py" % e)
    heads = a.heads
    if heads is None:
        try:
            import lpips
        except ImportError:
            sys.exit("make_lpips_weights: no --heads given and the lpips package is not installed "
                     "(pip install lpips, or download vgg.pth from the LPIPS repository's weights/v0.1/)")
        heads = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "vgg.pth")
    if not os.path.exists(heads):
        sys.exit("make_lpips_weights: heads file '%s' does not exist" % heads)
    try:
        vgg = torchvision.models.vgg16(weights=torchvision.models.VGG16_Weights.IMAGENET1K_V1)
    except AttributeError:  # torchvision < 0.13
        vgg = torchvision.models.vgg16(pretrained=True)
    lin = torch.load(heads, map_location="cpu")
    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w", libver=durable.H5_LIBVER) as f:
        ds = durable.Datasets(f)
        f.attrs["format"] = "ibq-lpips"
        f.attrs["source"] = "torchvision vgg16 IMAGENET1K_V1 features + LPIPS v0.1 heads (%s)" % os.path.basename(heads)
        n = 0
        for name, t in vgg.features.state_dict().items():
            ds.write("features." + name, t.float().numpy())
            n += 1
        for k in range(5):
            key = "lin%d.model.1.weight" % k
            if key not in lin:
                sys.exit("make_lpips_weights: '%s' lacks %s; is it LPIPS's v0.1 vgg.pth?" % (heads, key))
            ds.write(key, lin[key].float().numpy())
            n += 1
        ds.write_manifest()
    durable.commit(tmp, a.out)
    print("wrote %d tensors to %s" % (n, a.out))


if __name__ == "__main__":
    main()
