"""numpy.savez's own .npz, for ibq's reader (tests/io/test_npz.cpp) -> tests/fixtures/numpy_savez.npz.

    /usr/bin/python3 tests/reference/make_npz_fixture.py

arr_0: uint8 [2, 3, 4, 3] with element i = 7 i mod 256 (C order); other: five zero bytes; mu: float64
[0.125, -2.5, 1e-300] and sigma: float32 [[1, 0.5], [0.5, 0.25]] (ADM's reference statistics are float64).
numpy writes ZIP64 extra fields on every member (force_zip64), which the reader must skip.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "numpy_savez.npz")
a = (np.arange(2 * 3 * 4 * 3) * 7 % 256).astype(np.uint8).reshape(2, 3, 4, 3)
np.savez(OUT, arr_0=a, other=np.zeros(5, np.uint8), mu=np.array([0.125, -2.5, 1e-300]),
         sigma=np.array([[1, 0.5], [0.5, 0.25]], np.float32))
print(f"wrote {OUT}")
