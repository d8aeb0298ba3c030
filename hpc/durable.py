"""Files as ibq's C++ writers make them (include/ibq/io/durable.hpp, hdf5.hpp), for the Python tools.

- commit(tmp, path): the file written at tmp is fsync'ed, renamed to path, and its folder fsync'ed, so a
  crash leaves the old file or the complete new one, never a partial one under the final name.
- HDF5 integrity: open with libver=H5_LIBVER (the 1.10 format, checksummed metadata), write datasets with
  Dataset(...) (chunked, Fletcher32 checksums) and finish with write_manifest (the root attribute
  ibq_datasets listing every dataset), so `ibq-inspect --verify` and train.resume=auto can check the file.
"""
import os

import numpy as np

H5_LIBVER = ("v110", "v110")
MANIFEST = "ibq_datasets"


def commit(tmp, path):
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(folder)
    except OSError:  # some file systems cannot sync a folder: the rename is as durable as they make it
        pass
    finally:
        os.close(folder)


class Datasets:
    """Writes datasets into an open h5py file the way ibq does, remembering their names."""

    def __init__(self, h5file):
        self.file = h5file
        self.names = []

    def write(self, name, data):
        arr = np.ascontiguousarray(data)
        if arr.ndim == 0 or arr.size == 0:  # nothing a checksum could cover (as the C++ writer)
            self.file.create_dataset(name, data=arr)
        else:  # whole tensors per chunk, split along the first axis only to stay under HDF5's 4 GiB limit
            rows = max(1, min(arr.shape[0], (1 << 30) // max(1, arr[0].nbytes)))
            self.file.create_dataset(name, data=arr, chunks=(rows,) + arr.shape[1:], fletcher32=True)
        self.names.append(name)

    def write_manifest(self):
        self.file.attrs[MANIFEST] = "\n".join(sorted(self.names))
