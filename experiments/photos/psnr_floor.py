#!/usr/bin/python3
"""How much PSNR the photo test patches give away for nothing: reconstructions that need no tokenizer.

    /usr/bin/python3 experiments/photos/psnr_floor.py [SHARD.h5 ...]   # default: the 2,100 test patches

Many patches are smooth sky, water or foliage, so a few numbers per patch already reconstruct them well.
This scores, with ibq-reconstruct's PSNR (per image on uint8 values in [0, 1], then the mean; docs/math.md),
each patch replaced by its mean colour (3 numbers), and by the means of its 4x4, 8x8 and 16x16 blocks
(48, 192, 768 numbers), rounded to uint8 as a decoder's output is. A tokenizer's PSNR is compared with these:
a 64-token code of 11 distinct values holds at most 64 log2(11) = 221 bits, so the last row keeps the 48
block means to 4 bits each (192 bits). numpy and h5py.
"""
import os
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def psnr(reconstruction, x):
    mse = ((np.round(reconstruction * 255) / 255 - x) ** 2).reshape(len(x), -1).mean(1)
    return np.mean(10 * np.log10(1 / mse[mse > 0]))


def block_means(x, blocks):
    n, size = len(x), x.shape[1] // blocks
    m = x.reshape(n, blocks, size, blocks, size, 3).mean((2, 4), keepdims=True)
    return np.broadcast_to(m, (n, blocks, size, blocks, size, 3)).reshape(x.shape)


def main():
    shards = sys.argv[1:] or [os.path.join(ROOT, "data", "photos", f"test-{s}.h5") for s in (256, 512)]
    for s in shards:
        if not os.path.isfile(s):
            sys.exit(f"psnr_floor: {s} does not exist: make it with hpc/make_photo_patches.sh data/photos")
    x = np.concatenate([h5py.File(s, "r")["images"][...] for s in shards]).astype(np.float64) / 255
    print(f"| reconstruction of the {len(x)} patches | numbers per patch | PSNR (dB) |\n|---|---|---|")
    print(f"| mean colour | 3 | {psnr(np.broadcast_to(x.mean((1, 2), keepdims=True), x.shape), x):.2f} |")
    for blocks in (4, 8, 16):
        print(f"| means of {blocks}x{blocks} blocks | {3 * blocks * blocks} | {psnr(block_means(x, blocks), x):.2f} |")
    coarse = (np.floor(block_means(x, 4) * 16) + 0.5) / 16  # each mean kept to 4 bits: 192 bits a patch
    print(f"| means of 4x4 blocks, 4 bits each (192 bits) | 48 | {psnr(coarse, x):.2f} |")


if __name__ == "__main__":
    main()
