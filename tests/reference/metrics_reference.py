#!/usr/bin/python3
"""scikit-image reference for ibq's PSNR and SSIM (include/ibq/metrics/{psnr,ssim}.hpp) -> tests/fixtures/metrics.h5.

Run with the system interpreter (numpy, scikit-image 0.19 from Debian's python3-skimage, h5py):
    /usr/bin/python3 tests/reference/metrics_reference.py

The reference evaluation (docs/math.md) quantises images to uint8, rescales them to [0, 1] as
float64, and calls skimage with data_range=1: `peak_signal_noise_ratio(a, b, data_range=1)` and
`structural_similarity(a, b, channel_axis=-1, data_range=1)`, which is the UNIFORM 7x7 window with sample
covariance. The Gaussian variant (Wang et al. 2004: gaussian_weights=True, sigma=1.5,
use_sample_covariance=False) and two off-default combinations are stored as well.

Each case is a group cases/<name> with uint8 datasets a, b of shape [H, W, C] and float64 attributes:
  psnr                   skimage PSNR (+inf for identical images)
  ssim_uniform           the reference call (7x7 uniform window, sample covariance)
  ssim_uniform_pop       uniform 7x7, use_sample_covariance=False
  ssim_uniform_w3        uniform 3x3 window (win_size=3), sample covariance
  ssim_gaussian          Wang et al.: gaussian_weights=True, sigma=1.5, use_sample_covariance=False
  ssim_gaussian_sample   gaussian_weights=True with skimage's default use_sample_covariance=True
A value is NaN where skimage refuses the call (image smaller than the window). The group batch/ holds
a, b of shape [N, H, W, C] and the per-image means psnr, ssim_uniform, ssim_gaussian.
"""
import os
import warnings

import h5py
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "metrics.h5")
rng = np.random.default_rng(20250311)

VARIANTS = {
    "ssim_uniform": dict(),
    "ssim_uniform_pop": dict(use_sample_covariance=False),
    "ssim_uniform_w3": dict(win_size=3),
    "ssim_gaussian": dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False),
    "ssim_gaussian_sample": dict(gaussian_weights=True),
}


def as_unit(x):
    return x.astype(np.uint8) / 255.0  # as the reference: uint8 -> float64 in [0, 1]


def psnr(a, b):
    with warnings.catch_warnings():  # identical images: divide by zero -> inf, as the reference sees it
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(peak_signal_noise_ratio(as_unit(a), as_unit(b), data_range=1))


def ssim(a, b, **kw):
    try:
        return float(structural_similarity(as_unit(a), as_unit(b), channel_axis=-1, data_range=1, **kw))
    except ValueError:  # win_size exceeds image extent
        return float("nan")


def noisy(a, scale):
    return np.clip(a.astype(np.int32) + rng.normal(0, scale, a.shape).round().astype(np.int32), 0, 255).astype(np.uint8)


def structured(h, w, c):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(127 + 120 * np.sin(xx / 3.0 + k) * np.cos(yy / 5.0 - k)) for k in range(c)], axis=-1)
    img[h // 3:h // 2, w // 4:w // 2] = 250  # a sharp-edged block: large local variance
    return img.round().astype(np.uint8)


def random_img(h, w, c):
    return rng.integers(0, 256, (h, w, c), dtype=np.uint8)


cases = {}
a = random_img(32, 32, 3)
cases["rgb32_noisy"] = (a, noisy(a, 12))
cases["rgb28_independent"] = (random_img(28, 28, 3), random_img(28, 28, 3))
s = structured(28, 28, 1)
cases["gray28_structured"] = (s, noisy(s, 20))
s = structured(17, 23, 3)
cases["rgb17x23_structured"] = (s, noisy(s, 6))
a = random_img(7, 7, 1)
cases["gray7x7"] = (a, noisy(a, 30))
a = random_img(7, 7, 3)
cases["rgb7x7"] = (a, noisy(a, 30))
a = random_img(11, 40, 1)  # exactly the Gaussian window's 11 rows
cases["gray11x40"] = (a, noisy(a, 40))
a = structured(9, 12, 3)  # fits the 7x7 window, not the 11x11 Gaussian one
cases["rgb9x12"] = (a, noisy(a, 10))
cases["flat_vs_flat"] = (np.full((12, 12, 3), 100, np.uint8), np.full((12, 12, 3), 110, np.uint8))
cases["black_vs_white"] = (np.zeros((13, 13, 1), np.uint8), np.full((13, 13, 1), 255, np.uint8))
a = structured(16, 16, 3)
cases["identical"] = (a, a.copy())

with h5py.File(OUT + ".tmp", "w") as f:
    f.attrs["source"] = "skimage %s: tests/reference/metrics_reference.py" % __import__("skimage").__version__
    for name, (a, b) in cases.items():
        g = f.create_group("cases/" + name)
        g["a"], g["b"] = a, b
        g.attrs["psnr"] = psnr(a, b)
        for key, kw in VARIANTS.items():
            g.attrs[key] = ssim(a, b, **kw)
        print("%-22s %-12s psnr %8.4f  ssim u %.6f g %.6f" % (name, a.shape, g.attrs["psnr"], g.attrs["ssim_uniform"],
                                                             g.attrs["ssim_gaussian"]))

    A = random_img(16, 16, 3)[None].repeat(4, 0)
    B = np.stack([noisy(A[i], 5 + 10 * i) for i in range(4)])
    g = f.create_group("batch")
    g["a"], g["b"] = A, B
    g.attrs["psnr"] = float(np.mean([psnr(A[i], B[i]) for i in range(4)]))
    g.attrs["ssim_uniform"] = float(np.mean([ssim(A[i], B[i]) for i in range(4)]))
    g.attrs["ssim_gaussian"] = float(np.mean([ssim(A[i], B[i], **VARIANTS["ssim_gaussian"]) for i in range(4)]))
os.replace(OUT + ".tmp", OUT)
print("wrote", OUT, os.path.getsize(OUT), "bytes")
