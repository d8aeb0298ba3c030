#!/usr/bin/python3
"""PIL reference for ibq's image decoding and resizing -> tests/fixtures/images/ and tests/fixtures/images.h5.

Run with the system interpreter (PIL, h5py, numpy):
    /usr/bin/python3 tests/reference/make_image_fixtures.py

tests/fixtures/images/ holds small files in the PNG and JPEG flavours ibq::read_image must handle (palette with
transparency, 1-bit, 16-bit grey, grey + alpha, RGBA, CMYK JPEG, progressive JPEG, grey JPEG). images.h5 holds
what PIL decodes each to after convert("L") or convert("RGB") (`decode/<file>`, uint8 HWC), and resize cases
(`resize/<case>/input` and `output`): PIL's BILINEAR resize of the short side to `resolution` followed by the
centre crop, or a plain resize to `height` x `width` when resolution is 0.
"""
import os

import h5py
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
FILES = os.path.join(FIXTURES, "images")
rng = np.random.default_rng(20241205)


def smooth(h, w, c):
    """A smooth random image: JPEG's quantisation leaves it recognisable, unlike white noise."""
    y, x = np.mgrid[0:h, 0:w]
    planes = [127 + 100 * np.sin(x / (2 + k) + rng.uniform(0, 6)) * np.cos(y / (3 + k)) for k in range(c)]
    return np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)


def save_files(f):
    os.makedirs(FILES, exist_ok=True)
    made = {}
    pal = Image.fromarray(rng.integers(0, 16, (7, 9), dtype=np.uint8), "P")
    pal.putpalette(list(rng.integers(0, 256, 48, dtype=np.uint8)))
    pal.info["transparency"] = 3
    made["palette.png"] = (pal, {"transparency": 3}, "RGB")
    made["bilevel.png"] = (Image.fromarray(rng.integers(0, 2, (5, 11), dtype=np.uint8) * 255).convert("1"), {}, "L")
    # 16-bit grey: multiples of 257 so that the 8-bit value (v / 257) is exact whatever the rounding.
    g16 = (rng.integers(0, 256, (6, 4)) * 257).astype(np.uint16)
    made["gray16.png"] = (Image.fromarray(g16, "I;16"), {}, None)
    made["gray_alpha.png"] = (Image.fromarray(smooth(6, 5, 2), "LA"), {}, "L")
    made["rgba.png"] = (Image.fromarray(smooth(5, 8, 4), "RGBA"), {}, "RGB")
    made["cmyk.jpg"] = (Image.fromarray(smooth(16, 24, 4), "CMYK"), {"quality": 90}, "RGB")
    made["progressive.jpg"] = (Image.fromarray(smooth(20, 13, 3)), {"quality": 85, "progressive": True}, "RGB")
    made["gray.jpg"] = (Image.fromarray(smooth(9, 17, 1)[..., 0], "L"), {"quality": 90}, "L")
    for name, (im, opts, mode) in made.items():
        path = os.path.join(FILES, name)
        im.save(path, **opts)
        if mode is None:  # PIL clips I;16 to 8 bits instead of scaling; the expectation is v / 257
            expected = (g16 // 257).astype(np.uint8)
        else:
            expected = np.asarray(Image.open(path).convert(mode))
        f["decode/" + name] = expected.reshape(expected.shape[0], expected.shape[1], -1)


def resize_case(f, name, img, resolution=0, size=None):
    im = Image.fromarray(img if img.shape[2] == 3 else img[..., 0])
    w, h = im.size
    if resolution:
        if h <= w:
            nh, nw = resolution, round(w * resolution / h)
        else:
            nh, nw = round(h * resolution / w), resolution
        out = im.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - resolution) // 2, (nh - resolution) // 2
        out = out.crop((left, top, left + resolution, top + resolution))
    else:
        out = im.resize((size[1], size[0]), Image.BILINEAR)
    g = f.create_group("resize/" + name)
    g["input"] = img
    o = np.asarray(out)
    g["output"] = o.reshape(o.shape[0], o.shape[1], -1)
    g.attrs["resolution"] = resolution
    g.attrs["height"], g.attrs["width"] = o.shape[0], o.shape[1]


def main():
    with h5py.File(os.path.join(FIXTURES, "images.h5"), "w") as f:
        f.attrs["generator"] = "tests/reference/make_image_fixtures.py (PIL %s)" % Image.__version__
        save_files(f)
        noise = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
        resize_case(f, "landscape_down", noise, resolution=16)
        resize_case(f, "portrait_down", np.ascontiguousarray(noise.transpose(1, 0, 2)), resolution=11)
        resize_case(f, "gray_up", rng.integers(0, 256, (9, 6, 1), dtype=np.uint8), resolution=20)
        resize_case(f, "odd_factor_down", smooth(61, 47, 3), resolution=13)
        resize_case(f, "mixed", noise, size=(10, 80))  # shrink one axis, stretch the other


if __name__ == "__main__":
    main()
