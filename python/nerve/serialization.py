"""nerve.save / nerve.load: state dicts in safe file formats, written atomically.

Three formats, picked by ``format=`` or else by the file name (``save``) or
the file's contents (``load``):

``npz`` (nerve's own, the default): a NumPy ``.npz`` (zip) archive holding
every array as ``a<i>.npy`` plus ``__nerve__.npy``, a uint8 array with a
UTF-8 JSON manifest that describes the saved object tree (dicts with str or
int keys, lists, tuples, tensors, numpy arrays, numbers, strings, booleans,
None). Nothing is pickled: loading uses ``np.load(allow_pickle=False)``, so a
checkpoint cannot run code.

``safetensors`` (``*.safetensors``, Hugging Face's format): a flat mapping of
names to tensors plus optional str -> str metadata, through the
``safetensors`` package (the optional extra ``pip install "nerve[weights]"``).

bfloat16 tensors stay bfloat16 in all three formats (npz: the raw uint16 bits
with ``"dtype": "bfloat16"`` in the manifest entry; safetensors: BF16; torch:
BFloat16Storage).

``torch`` (``*.pt``, ``*.pth``, ``*.bin``): files written by ``torch.save``,
read without PyTorch (see ``_torch_load``): a restricted unpickler accepts only
the globals a state dict needs and refuses anything else, naming it.

Saving writes a temporary file in the target's directory, flushes and fsyncs
it, then renames it over the target (``os.replace``): a crash or an error
mid-save leaves the old file whole. Tensors load on the CPU (or where
``map_location`` says); Parameters load as plain Tensors
(``Module.load_state_dict`` copies them into parameters).

Both take a path or, as PyTorch's do, a file object (``io.BytesIO``, an open
file): ``save`` writes to it as it is (no atomic rename), ``load`` reads it from
its current position. ``load`` also reads a bare ``.npy`` array
(``np.save``; never with pickles).
"""
import collections
import io
import json
import numbers
import os
import pickle
import struct
import tempfile
import zipfile

import numpy as np

from nerve import backend
from nerve.amp import bfloat16, is_floating
from nerve.device import device as Device
from nerve.tensor import Tensor

__all__ = ["save", "load", "UnsafeCheckpointError"]

_FORMATS = ("npz", "safetensors", "torch")
_EXTENSIONS = {".safetensors": "safetensors", ".pt": "torch", ".pth": "torch", ".bin": "torch", ".ckpt": "torch"}

_MANIFEST = "__nerve__"
_FORMAT = "nerve-checkpoint"
_VERSION = 1


def _encode(obj, arrays):
    def array(a):
        a = backend.of(a).to_numpy(a)
        if a.dtype.hasobject:
            raise TypeError("nerve.save: object arrays cannot be saved (no pickling)")
        arrays[f"a{len(arrays)}"] = a
        return f"a{len(arrays) - 1}"

    if isinstance(obj, Tensor):
        return _bf16_node(obj.array, {"tensor": array(_bits(obj.array)), "requires_grad": bool(obj.requires_grad)})
    if isinstance(obj, np.ndarray) or type(obj).__module__.startswith("cupy"):
        return _bf16_node(obj, {"ndarray": array(_bits(obj))})
    if isinstance(obj, np.generic):
        return {"ndarray": array(np.asarray(obj)), "scalar": True}
    if obj is None or isinstance(obj, (bool, str)):
        return {"value": obj}
    if isinstance(obj, numbers.Integral):
        return {"value": int(obj)}
    if isinstance(obj, numbers.Real):
        return {"value": float(obj)}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"nerve.save: dict keys must be str or int, got {type(k).__name__} {k!r}")
            items.append([k, _encode(v, arrays)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        return {"tuple" if isinstance(obj, tuple) else "list": [_encode(v, arrays) for v in obj]}
    raise TypeError(f"nerve.save: cannot save an object of type {type(obj).__name__} (tensors, arrays, numbers, "
                    "strings, None and dicts/lists/tuples of them only)")


def _bits(a):
    """A bfloat16 array as its raw uint16 bits (NumPy's .npy cannot name ml_dtypes' dtype); others as they are."""
    return np.asarray(a, order="C").view(np.uint16) if a.dtype == bfloat16 else a


def _bf16_node(a, node):
    if a.dtype == bfloat16:
        node["dtype"] = "bfloat16"
    return node


def save(obj, f, format=None, metadata=None):
    """Save a state dict (or any tree of tensors, arrays, numbers, strings) to ``f``: a path (written
    atomically) or a binary file object (written from its current position).

    ``format``: "npz" (nerve's own: any tree), "safetensors" (a flat dict of
    name -> tensor only) or "torch" (a torch.save zip file that
    ``torch.load(weights_only=True)`` accepts); by default from the file name's
    extension (``.safetensors``; ``.pt``/``.pth``/``.bin``/``.ckpt``; else npz).
    ``metadata``: a dict of str -> str stored in the file (npz and
    safetensors); ``load(path, with_metadata=True)`` gives it back.
    """
    stream = f if hasattr(f, "write") else None
    path = _name(f) if stream is not None else os.fspath(f)
    format = _save_format(path, format)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in metadata.items()):
            raise TypeError("nerve.save: metadata must be a dict of str -> str")
        if format == "torch":
            raise ValueError("nerve.save: the torch format has no place for metadata; use npz or safetensors")
    if format == "safetensors":
        data = _safetensors_bytes(obj, metadata)
        write = lambda out: out.write(data)  # noqa: E731
    elif format == "torch":
        write = lambda out: _torch_save(obj, out, path)  # noqa: E731
    else:
        arrays = {}
        manifest = {"format": _FORMAT, "version": _VERSION, "root": _encode(obj, arrays)}
        if metadata is not None:
            manifest["metadata"] = metadata
        arrays[_MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
        write = lambda out: np.savez(out, **arrays)  # noqa: E731
    if stream is None:
        _atomic_write(path, write)
    else:
        write(stream)


def _name(f):
    """What messages call a file object: its name when it has a str one (an open file), else its type."""
    name = getattr(f, "name", None)
    return name if isinstance(name, str) else f"<{type(f).__name__}>"


def _save_format(path, format):
    if format is None:
        return _EXTENSIONS.get(os.path.splitext(path)[1].lower(), "npz")
    if format not in _FORMATS:
        raise ValueError(f"nerve.save: unknown format {format!r}, expected one of {', '.join(_FORMATS)}")
    return format


def _atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _file_mode(path):
    """The replaced file's permissions, or what a new file gets under the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


class _Decoder:
    def __init__(self, path, archive):
        self.path, self.archive = path, archive

    def fail(self, what):
        raise ValueError(f"nerve.load: {self.path}: {what}")

    def array(self, key, dtype=None):
        if not isinstance(key, str) or key not in self.archive.files:
            self.fail(f"the manifest refers to array {key!r}, which the file does not contain")
        a = self.archive[key]
        if dtype is None:
            return a
        if dtype != "bfloat16" or a.dtype != np.uint16:
            self.fail(f"array {key!r} of dtype {a.dtype} cannot be read as {dtype!r} (only uint16 bits as bfloat16)")
        return a.view(bfloat16)

    def __call__(self, node):
        if not isinstance(node, dict) or len(node) == 0:
            self.fail(f"malformed manifest entry {node!r}")
        if "tensor" in node:
            return Tensor._wrap(self.array(node["tensor"], node.get("dtype")),
                                requires_grad=bool(node.get("requires_grad", False)))
        if "ndarray" in node:
            a = self.array(node["ndarray"], node.get("dtype"))
            return a[()] if node.get("scalar") else a
        if "value" in node:
            return node["value"]
        if "dict" in node:
            return {k: self(v) for k, v in node["dict"]}
        if "list" in node:
            return [self(v) for v in node["list"]]
        if "tuple" in node:
            return tuple(self(v) for v in node["tuple"])
        self.fail(f"unknown manifest entry with keys {sorted(node)}")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, format=None,
         with_metadata=False):
    """Load a checkpoint from ``f`` (a path or a binary file object): nerve's own
    ``.npz``, a ``.safetensors`` file, a PyTorch ``torch.save`` file (read without
    PyTorch, refusing any pickled global a state dict does not need) or a bare
    ``.npy`` array. ``format`` ("npz", "safetensors", "torch") overrides what the
    file name and contents say. With ``with_metadata``, returns ``(obj,
    metadata_dict)``. Raises ValueError naming the file when it is truncated,
    corrupted or of no format nerve reads, and ``UnsafeCheckpointError`` (a
    ValueError and a pickle.UnpicklingError) for a pickle that asks for anything
    but tensors and plain containers.

    PyTorch's arguments: ``map_location`` (None, "cpu", "cuda[:n]", a device, a
    {saved: target} dict or a function) moves the loaded tensors: a string or
    device to that device, a dict by its "cpu" entry (or its only target), a
    function is called as PyTorch calls it, ``fn(tensor, "cpu")``, and returns
    the tensor to keep. ``weights_only`` is accepted either way and changes
    nothing: nerve always loads as ``weights_only=True`` does and never runs
    pickled code. ``mmap`` is accepted; the file is read into memory.
    ``pickle_module`` must be None (or ``pickle``): nerve unpickles with its own
    restricted unpickler only."""
    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError("nerve.load: pickle_module is not supported: nerve reads pickles with its own restricted "
                         "unpickler only, which never runs code from the file")
    if format is not None and format not in _FORMATS:
        raise ValueError(f"nerve.load: unknown format {format!r}, expected one of {', '.join(_FORMATS)}")
    if hasattr(f, "read"):
        path, data = _name(f), f.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"nerve.load: {path}: expected a binary file object (opened with 'rb'), it returned "
                            f"{type(data).__name__}")
        data = bytes(data)
    else:
        path = os.fspath(f)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except IsADirectoryError as e:
            raise ValueError(f"nerve.load: {path}: is a directory, not a checkpoint file") from e
    format = format or _sniff(path, data)
    if format == "safetensors":
        obj = _safetensors_load(path, data, with_metadata)
    elif format == "torch":
        obj = _torch_load(path, data)
        obj = (obj, {}) if with_metadata else obj
    else:
        obj = _npz_load(path, data, with_metadata)
    if map_location is None:
        return obj
    if with_metadata:
        return _relocate(obj[0], map_location), obj[1]
    return _relocate(obj, map_location)


def _relocate(obj, map_location):
    """Every Tensor of the tree moved as map_location says (see load)."""
    if callable(map_location) and not isinstance(map_location, (str, Device)):
        move = lambda t: map_location(t, "cpu")  # noqa: E731
    else:
        target = map_location
        if isinstance(map_location, dict):
            targets = set(map(str, map_location.values()))
            target = map_location.get("cpu", next(iter(targets)) if len(targets) == 1 else "cpu")
        try:
            target = Device(target)
        except (ValueError, TypeError):
            raise ValueError(f"nerve.load: map_location {map_location!r} names no device nerve has (cpu, cuda, "
                             "cuda:<n>)") from None
        move = (lambda t: t) if target.type == "cpu" else (lambda t: t.to(target))  # noqa: E731

    def walk(x):
        if isinstance(x, Tensor):
            return move(x)
        if isinstance(x, dict):
            return type(x)((k, walk(v)) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return type(x)(walk(v) for v in x)
        return x

    return walk(obj)


def _sniff(path, data):
    """The format of a file's bytes; the extension decides only where the bytes are no known format."""
    if data[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            names = []
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "torch"
        if _MANIFEST + ".npy" in names:
            return "npz"
    if data[:2] == b"\x80\x02" and data[2:3] == b"\x8a" and _LEGACY_MAGIC in data[:16]:
        return "torch"
    if len(data) >= 10 and data[8:9] == b"{" and 0 < int.from_bytes(data[:8], "little") <= len(data) - 8:
        return "safetensors"
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower(), "npz")


# ---------------------------------------------------------------- safetensors
_EXTRA_HINT = 'the optional dependency of nerve\'s "weights" extra: pip install "nerve[weights]" (or: pip install safetensors)'


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy  # noqa: F401
    except ImportError as e:
        raise ImportError(f"nerve: reading and writing .safetensors files needs the safetensors package, {_EXTRA_HINT}") from e
    return safetensors


def _safetensors_bytes(obj, metadata):
    st = _safetensors()
    if not isinstance(obj, dict):
        raise TypeError(f"nerve.save: a safetensors file holds a flat dict of name -> tensor, got {type(obj).__name__}")
    arrays = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise TypeError(f"nerve.save: safetensors names must be str, got {type(name).__name__} {name!r}")
        if isinstance(value, Tensor):
            value = value.array
        if not (isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy")):
            raise TypeError(f"nerve.save: a safetensors file holds tensors only, but {name!r} is a "
                            f"{type(value).__name__}; put numbers and strings in metadata= or save as .npz")
        a = backend.of(value).to_numpy(value)
        a = a if a.flags.c_contiguous else a.copy()  # not ascontiguousarray: it makes 0-d arrays 1-d
        if a.dtype.hasobject or a.dtype.name not in _ST_DTYPES.values():
            raise TypeError(f"nerve.save: {name!r} has dtype {a.dtype}, which safetensors cannot hold")
        arrays[name] = a
    return st.numpy.save(arrays, metadata=metadata)


_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32",
              "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
              "BOOL": "bool", "C64": "complex64", "BF16": "bfloat16"}


def _safetensors_load(path, data, with_metadata):
    st = _safetensors()
    try:
        entries = st.deserialize(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except Exception as e:  # SafetensorError, a RuntimeError subclass, and header decoding errors
        raise ValueError(f"nerve.load: {path}: not a readable safetensors file ({type(e).__name__}: {e})") from e
    out = {}
    for name, entry in entries:
        dtype, shape, raw = entry["dtype"], tuple(entry["shape"]), entry["data"]
        if dtype == "BF16":
            array = np.frombuffer(raw, dtype="<u2").astype("=u2").view(bfloat16).reshape(shape)
        elif dtype in _ST_DTYPES:
            array = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[dtype]).newbyteorder("<")).reshape(shape)
            array = array.astype(array.dtype.newbyteorder("="))  # a writable, native-order copy
        else:
            raise ValueError(f"nerve.load: {path}: tensor {name!r} has dtype {dtype}, which nerve does not read")
        out[name] = Tensor._wrap(array)
    if with_metadata:
        return out, dict(header.get("__metadata__") or {})
    return out


# ---------------------------------------------------------------------- npz
def _npz_load(path, data, with_metadata):
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"nerve.load: {path}: not a nerve checkpoint (not a readable .npz archive: {e}); "
                         "the file may be truncated or of another format") from e
    if isinstance(archive, np.ndarray):  # a bare .npy file (np.save), read without pickles
        return (archive, {}) if with_metadata else archive
    with archive:
        if _MANIFEST not in archive.files:
            raise ValueError(f"nerve.load: {path}: not a nerve checkpoint (an .npz archive without a nerve manifest; "
                             f"it holds {sorted(archive.files)[:5]})")
        try:
            manifest = json.loads(archive[_MANIFEST].tobytes().decode("utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
                raise ValueError("the manifest is not a nerve checkpoint manifest")
            if manifest.get("version") != _VERSION:
                raise ValueError(f"checkpoint format version {manifest.get('version')!r}, this nerve reads "
                                 f"version {_VERSION}")
            root = _Decoder(path, archive)(manifest["root"])
            return (root, dict(manifest.get("metadata") or {})) if with_metadata else root
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
            if str(e).startswith("nerve.load:"):
                raise
            raise ValueError(f"nerve.load: {path}: corrupted checkpoint ({type(e).__name__}: {e})") from e


# -------------------------------------------------------------------- torch
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


class UnsafeCheckpointError(pickle.UnpicklingError, ValueError):
    """A pickled checkpoint asked for a global that a state dict does not need; nothing from it was run."""


# torch dtype name -> NumPy dtype of its elements in the file ("bf16": raw uint16 bits, loaded as bfloat16)
_TORCH_DTYPES = {
    "float64": "<f8", "double": "<f8", "float32": "<f4", "float": "<f4", "float16": "<f2", "half": "<f2",
    "bfloat16": "bf16", "int64": "<i8", "long": "<i8", "int32": "<i4", "int": "<i4", "int16": "<i2",
    "short": "<i2", "int8": "i1", "uint8": "u1", "bool": "?", "complex64": "<c8", "cfloat": "<c8",
    "complex128": "<c16", "cdouble": "<c16", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8",
}
# torch's legacy typed storage classes (what torch.save still pickles) -> torch dtype name
_STORAGE_TYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}


class _TorchDtype:
    """What a pickled ``torch.<dtype>`` global unpickles to."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"

    def __reduce__(self):  # never pickled back by nerve
        raise TypeError("a torch dtype read from a checkpoint cannot be pickled")


class _StorageType:
    """What a pickled storage class (``torch.FloatStorage``, ``torch.storage.UntypedStorage``) unpickles to."""

    def __init__(self, dtype):
        self.dtype = dtype  # a torch dtype name, or None for UntypedStorage (raw bytes)


class _Storage:
    """One storage of a checkpoint: its raw bytes (a writable uint8 array) and its element type."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel, self.raw = key, dtype, numel, None


class _Marker:
    def __init__(self, name):
        self.name = name


_TENSOR_TYPES = (_Marker("torch.Tensor"), _Marker("torch.nn.Parameter"))


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes objects, and nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError(f"_codecs.encode called with {type(text).__name__}, {encoding!r}: only "
                                    "latin1 encoding of a str (how protocol 2 pickles bytes) is accepted")
    return text.encode("latin1")


class _TorchUnpickler(pickle.Unpickler):
    """Unpickles a torch.save data pickle while never importing or calling anything but the handful
    of functions below, which build NumPy arrays; any other global is refused by name."""

    def __init__(self, file, path, storages, read_storage, byteorder="little"):
        super().__init__(file, encoding="utf-8")
        self.path, self.storages, self.read_storage, self.byteorder = path, storages, read_storage, byteorder
        self.dry = False  # the legacy format's first pass: only collect storages

    def find_class(self, module, name):
        found = self._allowed(module, name)
        if found is None:
            raise UnsafeCheckpointError(
                f"nerve.load: {self.path}: refused to load the global '{module}.{name}': a checkpoint may hold "
                "tensors, numbers, strings and containers only (like torch.load(weights_only=True)); nothing "
                "from the file was run. If you trust the file, load it with torch.load and save its state_dict")
        return found

    def _allowed(self, module, name):
        if module == "torch._utils":
            return {"_rebuild_tensor": self._rebuild_tensor, "_rebuild_tensor_v2": self._rebuild_tensor_v2,
                    "_rebuild_tensor_v3": self._rebuild_tensor_v3, "_rebuild_parameter": self._rebuild_parameter,
                    "_rebuild_parameter_with_state": self._rebuild_parameter_with_state}.get(name)
        if module == "torch":
            if name in _STORAGE_TYPES:
                return _StorageType(_STORAGE_TYPES[name])
            if name in _TORCH_DTYPES:
                return _TorchDtype(name)
            if name.startswith("float8") or name in ("complex32", "chalf", "qint8", "quint8", "qint32"):
                return _TorchDtype(name)  # refused with a clear message if a tensor uses it
            return {"Size": _torch_size, "device": _torch_device, "Tensor": _TENSOR_TYPES[0]}.get(name)
        if module == "torch.storage" and name in ("UntypedStorage", "_UntypedStorage"):
            return _StorageType(None)
        if module == "torch.nn.parameter" and name == "Parameter":
            return _TENSOR_TYPES[1]
        if module == "torch._tensor" and name == "_rebuild_from_type_v2":
            return self._rebuild_from_type_v2
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module in ("builtins", "__builtin__"):
            return {"set": set, "frozenset": frozenset, "complex": complex, "bytearray": bytearray,
                    "slice": slice}.get(name)
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        return None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise ValueError(f"unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        view = pid[5] if len(pid) == 6 else None
        if view is not None:  # legacy files: a storage that is a slice of another one
            view_key, offset, size = view
            base = self.persistent_load(pid[:5])
            st = self.storages.get(view_key)
            if st is None:
                st = self.storages[view_key] = _Storage(view_key, base.dtype, size)
            if st.raw is None and base.raw is not None:
                itemsize = _itemsize(base.dtype)
                if offset < 0 or size < 0 or (offset + size) * itemsize > base.raw.size:
                    raise ValueError(f"storage view {view!r} lies outside its storage")
                st.raw = base.raw[offset * itemsize:(offset + size) * itemsize]
            return st
        st = self.storages.get(key)
        if st is None:
            st = self.storages[key] = _Storage(key, storage_type.dtype, numel)
        if st.raw is None and self.read_storage is not None:
            nbytes = numel * (1 if st.dtype is None else _itemsize(st.dtype))
            st.raw = self.read_storage(key, nbytes)
        return st

    # -- the rebuild functions a state dict's pickle calls
    def _array(self, storage, offset, size, stride, dtype=None):
        if not isinstance(storage, _Storage):
            raise ValueError(f"a tensor's storage is a {type(storage).__name__}")
        dtype = dtype.name if isinstance(dtype, _TorchDtype) else (dtype or storage.dtype)
        if dtype not in _TORCH_DTYPES:
            raise ValueError(f"nerve.load: {self.path}: a tensor has dtype torch.{dtype}, which nerve does not "
                             "read (float and int dtypes, bool, complex and bfloat16 are read)")
        if self.dry:
            return None
        code = _TORCH_DTYPES[dtype]
        np_dtype = np.dtype("<u2" if code == "bf16" else code)
        if self.byteorder == "big":
            np_dtype = np_dtype.newbyteorder(">")
        size, stride = tuple(size), tuple(stride)
        ints = (offset,) + size + stride
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints) or len(size) != len(stride):
            raise ValueError(f"bad tensor geometry: offset {offset!r}, size {size!r}, stride {stride!r}")
        raw = storage.raw
        if raw.size % np_dtype.itemsize:
            raise ValueError(f"storage {storage.key} holds {raw.size} bytes, not a whole number of {dtype}")
        elements = raw.view(np_dtype)
        if 0 in size:
            array = np.zeros(size, np_dtype)
        else:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= elements.size:  # never read past the storage, whatever the file says
                raise ValueError(f"tensor of size {size}, stride {stride}, offset {offset} reaches element "
                                 f"{last} of storage {storage.key}, which has {elements.size}")
            count = int(np.prod(size))
            whole = offset == 0 and count == elements.size and np.lib.stride_tricks.as_strided(
                elements, size, [s * np_dtype.itemsize for s in stride]).flags.c_contiguous
            if whole:  # the tensor is its whole storage: share it (tied weights stay tied)
                array = elements.reshape(size)
            else:  # a view into a shared storage: copy the elements it sees
                array = np.lib.stride_tricks.as_strided(elements[offset:], size,
                                                        [s * np_dtype.itemsize for s in stride]).copy()
        if code == "bf16":
            return array.astype("=u2", copy=False).view(bfloat16)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        return array

    def _tensor(self, array, requires_grad):
        if array is None:
            return None
        return Tensor._wrap(array, requires_grad=bool(requires_grad) and (is_floating(array.dtype)
                                                                        or array.dtype.kind == "c"))

    def _rebuild_tensor(self, storage, storage_offset, size, stride):
        return self._tensor(self._array(storage, storage_offset, size, stride), False)

    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                           metadata=None):
        return self._tensor(self._array(storage, storage_offset, size, stride), requires_grad)

    def _rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                           metadata=None):
        if not isinstance(dtype, _TorchDtype):
            raise ValueError(f"expected a torch dtype, got {type(dtype).__name__}")
        return self._tensor(self._array(storage, storage_offset, size, stride, dtype), requires_grad)

    def _rebuild_parameter(self, data, requires_grad, backward_hooks):
        if data is not None and bool(requires_grad) and (is_floating(data.dtype) or data.dtype.kind == "c"):
            data.requires_grad = True
        return data

    def _rebuild_parameter_with_state(self, data, requires_grad, backward_hooks, state):
        return self._rebuild_parameter(data, requires_grad, backward_hooks)

    def _rebuild_from_type_v2(self, func, new_type, args, state):
        if not any(new_type is t for t in _TENSOR_TYPES) or not callable(func) or not isinstance(args, tuple):
            raise ValueError("_rebuild_from_type_v2 for something other than a tensor")
        if func not in (self._rebuild_tensor, self._rebuild_tensor_v2, self._rebuild_tensor_v3,
                        self._rebuild_parameter, self._rebuild_parameter_with_state):
            raise ValueError("_rebuild_from_type_v2 with a function other than a tensor rebuild")
        return func(*args)


def _itemsize(dtype):
    code = _TORCH_DTYPES.get(dtype)
    if code is None:
        raise ValueError(f"storage dtype {dtype!r} is not supported by nerve.load")
    return 2 if code == "bf16" else np.dtype(code).itemsize


def _torch_size(dims=()):
    return tuple(int(d) for d in dims)


def _torch_device(kind, index=None):
    return str(kind) if index is None else f"{kind}:{int(index)}"


def _torch_load(path, data):
    """Read a torch.save file without PyTorch.

    The zip format (PyTorch >= 1.6): ``<name>/data.pkl`` is a protocol-2 pickle of
    the object whose tensors are ``_rebuild_tensor_v2(storage, offset, size,
    stride, ...)`` calls, each storage a persistent id ``('storage', type, key,
    device, numel)`` naming the raw bytes in ``<name>/data/<key>``. The legacy
    format is a run of pickles: magic number, protocol version, system info, the
    object, the list of storage keys, then each storage's element count (int64)
    and bytes. Only the globals in ``_TorchUnpickler._allowed`` are accepted."""
    try:
        if data[:4] == b"PK\x03\x04":
            return _torch_load_zip(path, data)
        return _torch_load_legacy(path, data)
    except UnsafeCheckpointError:
        raise
    except Exception as e:
        if str(e).startswith("nerve.load:"):
            raise
        raise ValueError(f"nerve.load: {path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from e


def _torch_load_zip(path, data):
    archive = zipfile.ZipFile(io.BytesIO(data))
    pickles = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise ValueError(f"nerve.load: {path}: a zip file, but not a PyTorch checkpoint (no data.pkl)")
    prefix = pickles[0][:-len("data.pkl")]
    names = set(archive.namelist())
    byteorder = archive.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
    if byteorder not in ("little", "big"):
        raise ValueError(f"unknown byteorder {byteorder!r}")

    def read_storage(key, nbytes):
        name = f"{prefix}data/{key}"
        if name not in names:
            raise ValueError(f"storage {key!r} is missing from the archive")
        info = archive.getinfo(name)
        if info.file_size < nbytes:
            raise ValueError(f"storage {key!r} holds {info.file_size} bytes, the pickle says {nbytes}")
        buf = bytearray(info.file_size)
        with archive.open(info) as f:
            f.readinto(buf)
        return np.frombuffer(buf, np.uint8)[:nbytes]

    return _TorchUnpickler(io.BytesIO(archive.read(pickles[0])), path, {}, read_storage, byteorder).load()


def _torch_load_legacy(path, data):
    f = io.BytesIO(data)

    def plain(expect):
        value = _TorchUnpickler(f, path, {}, None).load()
        if not isinstance(value, expect):
            raise ValueError(f"expected a {expect.__name__}, got {type(value).__name__}")
        return value

    if data[:2] != b"\x80\x02" or plain(int) != int.from_bytes(_LEGACY_MAGIC, "little"):
        raise ValueError(f"nerve.load: {path}: not a PyTorch checkpoint (neither a zip archive nor the legacy "
                         "pickle format)")
    plain(int)  # protocol version
    sys_info = plain(dict)
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    start = f.tell()
    storages = {}
    first = _TorchUnpickler(f, path, storages, None, byteorder)
    first.dry = True
    first.load()  # pass 1: which storages, of which type
    keys = plain(list)
    for key in keys:
        if key not in storages:
            raise ValueError(f"storage {key!r} is not used by the pickle")
        st = storages[key]
        numel = int.from_bytes(f.read(8), "little", signed=True)
        nbytes = numel * _itemsize(st.dtype)
        raw = bytearray(nbytes)
        if numel < 0 or f.readinto(raw) != nbytes:
            raise ValueError(f"the file ends inside storage {key!r}")
        st.raw = np.frombuffer(raw, np.uint8)
    f.seek(start)
    second = _TorchUnpickler(f, path, storages, None, byteorder)
    return second.load()


_NP_TO_STORAGE = {np.dtype(_TORCH_DTYPES[dt]): name for name, dt in _STORAGE_TYPES.items() if dt != "bfloat16"}
_NP_TO_STORAGE[bfloat16] = "BFloat16Storage"


def _torch_save(obj, f, path):
    """Write ``obj`` as a torch.save zip file (protocol-2 pickle written opcode by opcode, since the
    pickle needs torch's globals by name and torch may be absent) that torch.load(weights_only=True) reads."""
    storages, keys, out = [], {}, bytearray(b"\x80\x02")

    def glob(module, name):
        out.extend(b"c" + f"{module}\n{name}\n".encode())

    def text(s):
        b = s.encode("utf-8")
        out.extend(b"X" + len(b).to_bytes(4, "little") + b)

    def integer(i):
        if -2 ** 31 <= i < 2 ** 31:
            out.extend(b"J" + i.to_bytes(4, "little", signed=True))
        else:
            b = i.to_bytes((i.bit_length() + 8) // 8, "little", signed=True)
            if len(b) > 255:
                raise TypeError(f"nerve.save: integer {i} is too large for the torch format")
            out.extend(b"\x8a" + bytes([len(b)]) + b)

    def tensor(value, requires_grad):
        source = value
        a = backend.of(value).to_numpy(value)
        if a.dtype not in _NP_TO_STORAGE:
            raise TypeError(f"nerve.save: the torch format cannot hold dtype {a.dtype}")
        key = keys.get(id(source))
        if key is None:  # one storage per array object: a tensor saved twice stays tied
            key = keys[id(source)] = str(len(storages))
            bits = _bits(a)  # bfloat16: its uint16 bits
            storages.append((key, np.ascontiguousarray(bits).astype(bits.dtype.newbyteorder("<"), copy=False), source))
        contiguous = tuple(int(np.prod(a.shape[d + 1:])) for d in range(a.ndim))
        glob("torch._utils", "_rebuild_tensor_v2")
        out.extend(b"((")
        text("storage")
        glob("torch", _NP_TO_STORAGE[a.dtype])
        text(key)
        text("cpu")
        integer(int(a.size))
        out.extend(b"tQ")  # the persistent id tuple, BINPERSID
        integer(0)
        for dims in (a.shape, contiguous):
            out.extend(b"(")
            for d in dims:
                integer(int(d))
            out.extend(b"t")
        out.extend(b"\x88" if requires_grad else b"\x89")
        glob("collections", "OrderedDict")
        out.extend(b")RtR")

    def value(v):
        if isinstance(v, Tensor):
            tensor(v.array, v.requires_grad)
        elif isinstance(v, np.ndarray) or type(v).__module__.startswith("cupy"):
            tensor(v, False)
        elif isinstance(v, np.generic):
            value(v.item())
        elif v is None:
            out.extend(b"N")
        elif isinstance(v, bool):
            out.extend(b"\x88" if v else b"\x89")
        elif isinstance(v, numbers.Integral):
            integer(int(v))
        elif isinstance(v, numbers.Real):
            out.extend(b"G" + struct.pack(">d", float(v)))
        elif isinstance(v, str):
            text(v)
        elif isinstance(v, bytes):
            glob("_codecs", "encode")
            out.extend(b"(")
            text(v.decode("latin1"))
            text("latin1")
            out.extend(b"tR")
        elif isinstance(v, dict):
            out.extend(b"}(")
            for k, item in v.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"nerve.save: dict keys must be str or int, got {type(k).__name__} {k!r}")
                value(k)
                value(item)
            out.extend(b"u")
        elif isinstance(v, list):
            out.extend(b"](")
            for item in v:
                value(item)
            out.extend(b"e")
        elif isinstance(v, tuple):
            out.extend(b"(")
            for item in v:
                value(item)
            out.extend(b"t")
        else:
            raise TypeError(f"nerve.save: cannot save an object of type {type(v).__name__} in the torch format "
                            "(tensors, arrays, numbers, strings, bytes, None and dicts/lists/tuples of them only)")

    value(obj)
    out.extend(b".")
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", bytes(out))
        z.writestr("archive/byteorder", "little")
        for key, array, _ in storages:
            z.writestr(f"archive/data/{key}", array.tobytes())
        z.writestr("archive/version", "3\n")
