#!/usr/bin/python3
"""scipy reference for ibq's Fréchet distance and Inception-Score formula
(include/ibq/metrics/{frechet,inception_score}.hpp) -> tests/fixtures/frechet.h5.

Run with the system interpreter (numpy, scipy, h5py from Debian):
    /usr/bin/python3 tests/reference/frechet_reference.py

The Fréchet distance is pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm of sigma1 @ sigma2,
with its eps offset when the product is singular, and the real part taken). Each fd/<case> group holds
float64 feature sets a [n_a, d], b [n_b, d] and attributes fd, and the statistics mu_a, sigma_a (numpy.cov).
Cases: well-conditioned, correlated, shifted means only, n < d (singular covariances), identical sets.

The Inception Score is the formula of Salimans et al.'s and ADM's code: for each of `splits` consecutive
parts, exp(mean_i sum_c p_ic (log p_ic - log mean_j p_jc)); the mean and std (numpy's, ddof 0) over the
parts. Each is/<case> group holds probs [n, k] and attributes splits, is_mean, is_std.
"""
import os

import h5py
import numpy as np
from scipy import linalg

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "frechet.h5")


def frechet(mu1, s1, mu2, s2, eps=1e-6):  # pytorch-fid 0.3, verbatim in substance
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def inception_score(p, splits):
    scores = []
    for part in np.array_split(p, splits):  # equal parts when n % splits == 0, as in the cases below
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def main():
    rng = np.random.default_rng(7)
    d = 16
    mix = rng.standard_normal((d, d))
    fd_cases = {
        "gaussian": (rng.standard_normal((200, d)), rng.standard_normal((150, d)) * 1.3 + 0.2),
        "correlated": (rng.standard_normal((250, d)) @ mix, rng.standard_normal((220, d)) @ mix.T + 1.0),
        "mean_shift": (rng.standard_normal((150, d)), None),
        "fewer_samples_than_dims": (rng.standard_normal((10, d)), rng.standard_normal((12, d)) + 0.5),
    }
    a_shift = fd_cases["mean_shift"][0]
    fd_cases["mean_shift"] = (a_shift, a_shift + 3.0)
    fd_cases["identical"] = (fd_cases["gaussian"][0], fd_cases["gaussian"][0].copy())
    with h5py.File(OUT, "w") as f:
        for name, (a, b) in fd_cases.items():
            g = f.create_group("fd/" + name)
            g["a"], g["b"] = a, b
            mu_a, s_a = a.mean(0), np.cov(a, rowvar=False)
            mu_b, s_b = b.mean(0), np.cov(b, rowvar=False)
            g.attrs["fd"] = frechet(mu_a, s_a, mu_b, s_b)
            g["mu_a"], g["sigma_a"] = mu_a, s_a
        for name, (n, k, splits, sharp) in {"confident": (100, 10, 10, 8.0), "flat": (60, 10, 3, 0.1),
                                             "one_split": (50, 7, 1, 3.0)}.items():
            logits = rng.standard_normal((n, k)) * sharp
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = f.create_group("is/" + name)
            g["probs"] = p
            g.attrs["splits"] = splits
            g.attrs["is_mean"], g.attrs["is_std"] = inception_score(p, splits)
            print(name, g.attrs["is_mean"], g.attrs["is_std"])
        for name in fd_cases:
            print(name, f["fd/" + name].attrs["fd"])


if __name__ == "__main__":
    main()
