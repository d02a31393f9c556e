"""Regenerate the .npy/.npz fixtures read by src/npy.rs's tests.

Run from anywhere: python3 tests/data/npy/make.py. The values are hard-coded in the
Rust tests too; change both together.
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(here, name)


np.save(path("f32_2x3.npy"), np.array([[1.5, -2.0, 3.25], [0.0, 4.5, -6.75]], dtype="<f4"))
np.save(path("f64_scalar.npy"), np.array(-0.1, dtype="<f8"))
np.save(path("i64_1d.npy"), np.array([-3, 0, 7, 2**63 - 1, -(2**63)], dtype="<i8"))
np.save(path("bool_2x2.npy"), np.array([[True, False], [False, True]]))
np.save(path("f16_1d.npy"), np.array([0.5, -1.0, 65504.0], dtype="<f2"))
np.save(path("u8_1d.npy"), np.array([0, 1, 255], dtype="u1"))
# Fortran order: np.save keeps the layout and writes fortran_order True.
np.save(path("fortran_2x3.npy"), np.asfortranarray(np.array([[1, 2, 3], [4, 5, 6]], dtype="<f4")))
np.save(path("fortran_2x3x4.npy"), np.asfortranarray(np.arange(24, dtype="<i4").reshape(2, 3, 4)))
np.save(path("be_f4.npy"), np.array([1.0, -2.5, 0.375], dtype=">f4"))
np.save(path("be_fortran_i8_2x3.npy"), np.asfortranarray(np.array([[1, -2, 3], [-4, 5, 2**40]], dtype=">i8")))
# Header versions 2.0 and 3.0 (u32 header length; 3.0 allows utf8).
for v in (2, 3):
    with open(path(f"v{v}_i32.npy"), "wb") as f:
        np.lib.format.write_array(f, np.array([[7, -8]], dtype="<i4"), version=(v, 0))
np.savez(path("savez.npz"), weights=np.array([[0.5, 1.5], [2.5, 3.5]], dtype="<f4"),
         labels=np.array([3, 1, 4], dtype="<i8"))
np.savez_compressed(path("savez_compressed.npz"), x=np.zeros((4, 8), dtype="<f4"),
                    y=np.array([True, False, True]))
