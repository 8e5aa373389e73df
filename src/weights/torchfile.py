"""Torch-free reader for PyTorch ``.pt`` checkpoints (the zip format ``torch.save`` writes since torch 1.6).

The archive holds ``<archive>/data.pkl`` (the pickled object), ``<archive>/data/<key>`` (one raw storage per
key), ``<archive>/byteorder`` (``little``/``big``; missing means little) and ``<archive>/version``.
``data.pkl`` is read with a restricted unpickler that knows only what a state dict needs: tensors,
parameters, their storages, ``OrderedDict``, ``torch.Size`` and plain Python values. Any other global
(``os.system``, a pickled ``nn.Module``, a tensor subclass, ...) is refused wherever it occurs, optimizer
state included, so nothing in the file can run code.

Returned arrays are C-contiguous copies in the tensor's dtype, except bfloat16, which numpy lacks and which
is widened exactly to float32. Tensors saved on a GPU load like CPU tensors (the location is ignored).
"""
import collections
import pickle
import zipfile

import numpy as np

# numpy dtype per torch storage class; "bfloat16" is read as uint16 and widened to float32.
_STORAGE_DTYPES = {
    "torch.FloatStorage": "f4", "torch.HalfStorage": "f2", "torch.DoubleStorage": "f8",
    "torch.BFloat16Storage": "bfloat16", "torch.LongStorage": "i8", "torch.IntStorage": "i4",
    "torch.ShortStorage": "i2", "torch.CharStorage": "i1", "torch.ByteStorage": "u1",
    "torch.BoolStorage": "?", "torch.storage.UntypedStorage": "u1",
}
# The pickle of a legacy (torch < 1.6) file starts with torch's magic number, pickled with protocol 2.
_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
_ZIP_MAGIC = b"PK\x03\x04"


class TorchFileError(ValueError):
    """A file that is not a readable PyTorch state dict; the one-line message names the file and the problem."""


class _StorageType(collections.namedtuple("_StorageType", "name code")):
    """What the unpickler returns for ``torch.<X>Storage``: its name and numpy dtype code (or "bfloat16")."""


class _Storage(collections.namedtuple("_Storage", "array")):
    """A loaded storage: ``array`` is 1-D, native byte order, numpy dtype of the storage (bfloat16 -> float32)."""


class _RefusedGlobal(pickle.UnpicklingError):
    """Raised by ``find_class`` for a global outside the allow-list; ``args[0]`` is ``module.name``."""


def _codecs_encode(text, encoding):
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes`` (latin-1 only)."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refuses _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """``torch._utils._rebuild_tensor_v2``: the view (offset and strides in elements) of ``storage``.

    Returns a C-contiguous copy of shape ``size``, so tensors sharing a storage never share memory.
    """
    del requires_grad, backward_hooks, metadata  # autograd details; a state dict needs only the values
    fields = (storage_offset, *size, *stride)
    if not isinstance(storage, _Storage) or not all(type(v) is int and v >= 0 for v in fields):
        raise pickle.UnpicklingError(f"invalid tensor record (offset {storage_offset}, size {size}, stride {stride})")
    if len(size) != len(stride):
        raise pickle.UnpicklingError(f"tensor size {tuple(size)} and stride {tuple(stride)} differ in length")
    array = storage.array
    if 0 in size:
        return np.empty(size, array.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= array.size:
        raise pickle.UnpicklingError(f"storage of {array.size} elements too short for a tensor of size "
                                     f"{tuple(size)}, stride {tuple(stride)}, offset {storage_offset}")
    view = np.lib.stride_tricks.as_strided(array[storage_offset:], shape=tuple(size),
                                           strides=[s * array.itemsize for s in stride], writeable=False)
    return np.array(view, order="C", copy=True)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    """``torch._utils._rebuild_parameter`` (and ``..._with_state``): a parameter's values are its data."""
    del requires_grad, backward_hooks, state
    return data


_ALLOWED_GLOBALS = {
    "collections.OrderedDict": collections.OrderedDict,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch.Size": tuple,
    "builtins.set": set, "builtins.frozenset": frozenset, "builtins.bytearray": bytearray,
    "_codecs.encode": _codecs_encode,
    **{name: _StorageType(name, code) for name, code in _STORAGE_DTYPES.items()},
}


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` of an open archive; storages are read from ``<prefix>data/<key>`` once each."""

    def __init__(self, file, archive, prefix, little_endian):
        super().__init__(file)
        self._archive, self._prefix, self._little = archive, prefix, little_endian
        self._storages = {}

    def find_class(self, module, name):
        full = f"{'builtins' if module == '__builtin__' else module}.{name}"  # protocol 2 writes __builtin__
        if full not in _ALLOWED_GLOBALS:
            raise _RefusedGlobal(full)
        return _ALLOWED_GLOBALS[full]

    def persistent_load(self, pid):
        """``('storage', storage_type, key, location, numel)`` -> the storage (cached by key and type)."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)
                and isinstance(pid[2], str) and type(pid[4]) is int and pid[4] >= 0):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        _, storage_type, key, _, numel = pid
        if (key, storage_type.code) not in self._storages:
            self._storages[key, storage_type.code] = _Storage(self._read_storage(storage_type, key, numel))
        return self._storages[key, storage_type.code]

    def _read_storage(self, storage_type, key, numel):
        """The 1-D array of storage ``key``: ``numel`` elements, native byte order (bfloat16 -> float32)."""
        name = f"{self._prefix}data/{key}"
        try:
            raw = self._archive.read(name)
        except KeyError:
            raise pickle.UnpicklingError(f"storage record {name} is missing") from None
        code = "u2" if storage_type.code == "bfloat16" else storage_type.code
        dtype = np.dtype(code).newbyteorder("<" if self._little else ">")
        if len(raw) < numel * dtype.itemsize:
            raise pickle.UnpicklingError(f"storage record {name} has {len(raw)} bytes, fewer than the "
                                         f"{numel} x {dtype.itemsize} bytes of its {storage_type.name}")
        array = np.frombuffer(raw, dtype, count=numel).astype(dtype.newbyteorder("="), copy=False)
        if storage_type.code == "bfloat16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _open_archive(path):
    """The open zip of ``path`` and its archive prefix (``"<archive>/"``); one clear error otherwise."""
    with open(path, "rb") as file:
        head = file.read(len(_LEGACY_MAGIC))
    if not head:
        raise TorchFileError(f"{path}: empty file (0 bytes), not a PyTorch checkpoint")
    if head == _LEGACY_MAGIC:
        raise TorchFileError(
            f"{path}: legacy (torch < 1.6) checkpoint format, not supported; re-save it in the zip format with: "
            f"python -c \"import torch; torch.save(torch.load('OLD.pt', map_location='cpu'), 'NEW.pt', "
            f"_use_new_zipfile_serialization=True)\"")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        kind = "truncated or corrupt zip archive" if head.startswith(_ZIP_MAGIC) else "not a PyTorch checkpoint"
        raise TorchFileError(f"{path}: {kind} ({err})") from None
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if not pickles:
        archive.close()
        raise TorchFileError(f"{path}: zip archive without <archive>/data.pkl, not a PyTorch checkpoint")
    return archive, pickles[0][:-len("data.pkl")]


def _unpickle(path):
    """The object pickled in ``path``, its tensors as numpy arrays."""
    archive, prefix = _open_archive(path)
    with archive:
        try:
            names = set(archive.namelist())
            order = archive.read(f"{prefix}byteorder").decode() if f"{prefix}byteorder" in names else "little"
            if order not in ("little", "big"):
                raise TorchFileError(f"{path}: unknown byteorder record {order!r:.40}")
            with archive.open(f"{prefix}data.pkl") as file:
                return _StateDictUnpickler(file, archive, prefix, order == "little").load()
        except _RefusedGlobal as err:
            raise TorchFileError(f"{path}: refuses to load '{err.args[0]}' (not part of a state dict; "
                                 "refused anywhere in the file, optimizer state included)") from None
        except TorchFileError:
            raise
        except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, TypeError,
                AttributeError, IndexError, KeyError, OSError) as err:
            detail = " ".join(str(err).split())  # one line
            raise TorchFileError(f"{path}: corrupt checkpoint ({type(err).__name__}: {detail})") from None


def read_torch_file(path):
    """{name: numpy array} of the state dict in the PyTorch zip checkpoint ``path``, without importing torch.

    The pickled object may be a state dict (``dict``/``OrderedDict``) or wrap one as ``{"model": ...}`` and/or
    ``{"state_dict": ...}`` (unwrapped in that order; the rest, e.g. an optimizer, is dropped). Entries that
    are not tensors (e.g. ints) are dropped. Arrays keep the tensor's shape and dtype (float32/16/64,
    int64/32/16/8, uint8, bool); bfloat16 becomes float32 (exact). Raises ``TorchFileError`` (one line naming
    the file) for a legacy, corrupt, truncated or empty file and for any global a state dict does not use.
    """
    obj = _unpickle(path)
    for wrapper in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise TorchFileError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    tensors = {key: value for key, value in obj.items() if isinstance(key, str) and isinstance(value, np.ndarray)}
    if not tensors:
        raise TorchFileError(f"{path}: state dict without tensors (keys: {', '.join(map(str, list(obj)[:5]))})")
    return tensors

