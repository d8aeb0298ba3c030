"""Reads and writes PyTorch's zip checkpoint format (torch.save since 1.6) with numpy alone, tensor by tensor.

    sd = open_checkpoint("imagenet256_16384.ckpt")["state_dict"]   # names -> LazyTensor, nothing read yet
    w = sd["encoder.conv_in.weight"].numpy()                        # reads this tensor's bytes only
    save_checkpoint("out.ckpt", {"state_dict": {"w": w}})           # torch.load(...)["state_dict"]["w"] works

Why not torch.load: PyTorch 1.13 reads a whole file into memory (an AR-XXL checkpoint is 8.7 GB), and the
importer should run where PyTorch is not installed (a cluster's login node). A torch zip file is
  <archive>/data.pkl         the object tree, pickled (protocol 2); each tensor is the call
                             torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)
                             and each storage a persistent id ('storage', torch.<Type>Storage, key, location, numel)
  <archive>/data/<key>       the raw little-endian bytes of storage <key>, stored uncompressed
  <archive>/version          the format version ("3")
so unpickling with those two names replaced by lazy stand-ins gives the whole tree (optimizer states,
hyper-parameters and all) without reading one tensor. Classes the tree names that are not plain Python
(Lightning's, omegaconf's, ...) become inert placeholders: their contents are never needed here.
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np

# torch.<Name>Storage -> numpy dtype (little-endian, as torch.save writes on every supported platform)
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"), "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": "bfloat16", "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"), "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
DTYPE_STORAGES = {np.dtype("<f4"): "FloatStorage", np.dtype("<f8"): "DoubleStorage", np.dtype("<f2"): "HalfStorage",
                  np.dtype("<i8"): "LongStorage", np.dtype("<i4"): "IntStorage", np.dtype("<i2"): "ShortStorage",
                  np.dtype("i1"): "CharStorage", np.dtype("u1"): "ByteStorage", np.dtype("?"): "BoolStorage"}


class FormatError(Exception):
    pass


def _product(shape):
    n = 1
    for s in shape:
        n *= int(s)
    return n


class _StorageType:
    def __init__(self, name):
        self.name = name


class LazyStorage:
    def __init__(self, archive, key, storage_type, numel):
        if storage_type.name not in STORAGE_DTYPES:
            raise FormatError("storage %s has type torch.%s, which this reader does not know" % (key, storage_type.name))
        self.archive, self.key, self.type_name, self.numel = archive, key, storage_type.name, numel

    def read(self, first, count):
        """Elements [first, first + count) as a numpy array (bfloat16 widened to float32, exactly)."""
        bf16 = self.type_name == "BFloat16Storage"
        itemsize = 2 if bf16 else STORAGE_DTYPES[self.type_name].itemsize
        with self.archive.zip.open(self.archive.prefix + "data/" + self.key) as f:
            f.seek(first * itemsize)
            raw = f.read(count * itemsize)
        if len(raw) != count * itemsize:
            raise FormatError("storage %s is shorter than its tensors say (truncated file?)" % self.key)
        if bf16:  # bfloat16 is the top half of a float32
            return (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4")
        return np.frombuffer(raw, dtype=STORAGE_DTYPES[self.type_name]).copy()


class LazyTensor:
    """A tensor of a checkpoint: shape and dtype now, values on .numpy()."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.shape, self.stride = storage, int(offset), tuple(size), tuple(stride)

    @property
    def dtype_name(self):
        return self.storage.type_name[: -len("Storage")]

    @property
    def numel(self):
        return _product(self.shape)

    def numpy(self):
        n = self.numel
        if n == 0:
            return np.zeros(self.shape, dtype=np.float32)
        contiguous, expect = True, 1
        for size, step in zip(reversed(self.shape), reversed(self.stride)):
            if size != 1 and step != expect:
                contiguous = False
            expect *= size
        if contiguous:
            return self.storage.read(self.offset, n).reshape(self.shape)
        span = 1 + sum((size - 1) * step for size, step in zip(self.shape, self.stride))
        flat = self.storage.read(self.offset, span)
        return np.lib.stride_tricks.as_strided(flat, self.shape, [s * flat.itemsize for s in self.stride]).copy()


class _Placeholder:
    """Stands for any class of the tree this reader does not need (Lightning callbacks, configs...)."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state

    def __call__(self, *args, **kwargs):
        return _Placeholder(*args)


def _rebuild_tensor(storage, offset, size, stride, *rest):
    return LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data, *rest):
    return data


_SAFE_MODULES = ("collections", "builtins", "copyreg", "_codecs", "datetime", "numpy", "numpy.core.multiarray")


class _Unpickler(pickle.Unpickler):
    def __init__(self, data, archive):
        super().__init__(data)
        self.archive = archive

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        if module == "torch" and name == "Size":
            return tuple
        if module in _SAFE_MODULES or module.startswith("numpy."):
            try:
                return super().find_class(module, name)
            except (AttributeError, ImportError):
                pass
        return type(name, (_Placeholder,), {"__module__": "torch_zip.placeholder." + module})

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise FormatError("unknown persistent id %r" % (pid,))
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise FormatError("storage %s has an unknown type %r" % (key, storage_type))
        return LazyStorage(self.archive, str(key), storage_type, numel)


class _Archive:
    def __init__(self, path):
        self.zip = zipfile.ZipFile(path)
        names = self.zip.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl:
            raise FormatError("'%s' is a zip file but not a PyTorch checkpoint (no <archive>/data.pkl)" % path)
        self.prefix = pkl[0][: -len("data.pkl")]


def is_zip_checkpoint(path):
    return zipfile.is_zipfile(path)


def open_checkpoint(path):
    """The object torch.load(path) would return, with every tensor a LazyTensor. The file stays open
    while tensors are read (it is closed with the process)."""
    if not zipfile.is_zipfile(path):
        raise FormatError("'%s' is not in PyTorch's zip format (torch.save since PyTorch 1.6)" % path)
    archive = _Archive(path)
    with archive.zip.open(archive.prefix + "data.pkl") as f:
        return _Unpickler(io.BytesIO(f.read()), archive).load()


# ---------------------------------------------------------------------------------------------------------
# Writing


class _Global:
    def __init__(self, module, name):
        self.module, self.name = module, name


class Deferred:
    """A tensor to write whose values are fetched only when its bytes are written (so that exporting a
    checkpoint larger than memory holds one tensor at a time): fetch() returns a numpy array of `shape`."""

    def __init__(self, shape, dtype, fetch):
        self.shape, self.dtype, self.fetch = tuple(int(s) for s in shape), np.dtype(dtype), fetch


class _StorageOut:
    def __init__(self, key, tensor):
        self.key, self.tensor = key, tensor


class _TensorOut:
    def __init__(self, key, shape, dtype, fetch):
        self.shape, self.dtype, self.fetch = shape, dtype, fetch
        self.storage = _StorageOut(key, self)

    @property
    def numel(self):
        return _product(self.shape)


class _Pickler(pickle._Pickler):
    """Pickles the tree as torch.save does: tensors as _rebuild_tensor_v2 calls on persistent storages."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_global_ref(self, obj):
        self.write(pickle.GLOBAL + obj.module.encode() + b"\n" + obj.name.encode() + b"\n")

    def save_tensor(self, t):
        stride, step = [], 1
        for s in reversed(t.shape):
            stride.insert(0, step)
            step *= s
        self.save(_Global("torch._utils", "_rebuild_tensor_v2"))
        self.save((t.storage, 0, t.shape, tuple(stride), False, collections.OrderedDict()))
        self.write(pickle.REDUCE)

    dispatch[_Global] = save_global_ref
    dispatch[_TensorOut] = save_tensor

    def persistent_id(self, obj):
        if isinstance(obj, _StorageOut):
            t = obj.tensor
            return ("storage", _Global("torch", DTYPE_STORAGES[t.dtype]), obj.key, "cpu", t.numel)
        return None


def _convert(tree, tensors):
    """Copies the tree with every numpy array or Deferred replaced by a _TensorOut (one storage each)."""
    if isinstance(tree, (np.ndarray, Deferred)):
        dtype = np.dtype(tree.dtype).newbyteorder("<") if np.dtype(tree.dtype).itemsize > 1 else np.dtype(tree.dtype)
        if dtype not in DTYPE_STORAGES:
            raise FormatError("cannot write a tensor of numpy dtype %s" % tree.dtype)
        fetch = tree.fetch if isinstance(tree, Deferred) else (lambda a=tree: a)
        t = _TensorOut(str(len(tensors)), tuple(int(s) for s in tree.shape), dtype, fetch)
        tensors.append(t)
        return t
    if isinstance(tree, collections.OrderedDict):
        return collections.OrderedDict((k, _convert(v, tensors)) for k, v in tree.items())
    if isinstance(tree, dict):
        return {k: _convert(v, tensors) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_convert(v, tensors) for v in tree)
    return tree


def _aligned_member(zf, name, nbytes, data_fn, alignment=64):
    """Writes one uncompressed member whose data starts at a multiple of `alignment` (as torch.save does, so
    that memory-mapped loading works), padding the local header with an extra field."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = nbytes  # known up front: no zip64 field unless it is large
    start = zf.fp.tell() + 30 + len(name.encode()) + 4
    if nbytes * 1.05 > zipfile.ZIP64_LIMIT:  # zipfile's own rule for a zip64 local header
        start += 20
    pad = (-start) % alignment
    info.extra = struct.pack("<HH", 0x4650, pad) + b"Z" * pad  # 'FP', as PyTorch's own writer pads
    with zf.open(info, "w") as out:
        data_fn(out)


def _write_tensor(out, t):
    a = np.asarray(t.fetch())
    if tuple(a.shape) != t.shape:
        raise FormatError("tensor %s: fetched shape %s, declared %s" % (t.storage.key, a.shape, t.shape))
    out.write(np.ascontiguousarray(a, dtype=t.dtype).tobytes(order="C"))


def save_checkpoint(path, tree):
    """Writes `tree` (dicts, lists, scalars, strings, numpy arrays and Deferred tensors) as torch.save
    would, one tensor in memory at a time."""
    tensors = []
    converted = _convert(tree, tensors)
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(converted)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        _aligned_member(zf, "archive/data.pkl", len(buf.getvalue()), lambda out: out.write(buf.getvalue()))
        for t in tensors:
            _aligned_member(zf, "archive/data/" + t.storage.key, t.numel * t.dtype.itemsize, lambda out, t=t: _write_tensor(out, t))
        _aligned_member(zf, "archive/version", 2, lambda out: out.write(b"3\n"))
