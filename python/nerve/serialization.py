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
bf16 tensors load as float32 (exactly: bf16 is float32's upper half).

``torch`` (``*.pt``, ``*.pth``, ``*.bin``): files written by ``torch.save``,
read without PyTorch (see ``_torch_load``): a restricted unpickler accepts only
the globals a state dict needs and refuses anything else, naming it.

Saving writes a temporary file in the target's directory, flushes and fsyncs
it, then renames it over the target (``os.replace``): a crash or an error
mid-save leaves the old file whole. Tensors load on the CPU; Parameters load
as plain Tensors (``Module.load_state_dict`` copies them into parameters).
"""
import io
import json
import numbers
import os
import pickle
import tempfile
import zipfile

import numpy as np

from nerve import backend
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
        return {"tensor": array(obj.data), "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, np.ndarray) or type(obj).__module__.startswith("cupy"):
        return {"ndarray": array(obj)}
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


def save(obj, path, format=None, metadata=None):
    """Save a state dict (or any tree of tensors, arrays, numbers, strings) to ``path`` atomically.

    ``format``: "npz" (nerve's own: any tree), "safetensors" (a flat dict of
    name -> tensor only) or "torch" (a torch.save zip file that
    ``torch.load(weights_only=True)`` accepts); by default from the file name's
    extension (``.safetensors``; ``.pt``/``.pth``/``.bin``/``.ckpt``; else npz).
    ``metadata``: a dict of str -> str stored in the file (npz and
    safetensors); ``load(path, with_metadata=True)`` gives it back.
    """
    path = os.fspath(path)
    format = _save_format(path, format)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in metadata.items()):
            raise TypeError("nerve.save: metadata must be a dict of str -> str")
        if format == "torch":
            raise ValueError("nerve.save: the torch format has no place for metadata; use npz or safetensors")
    if format == "safetensors":
        data = _safetensors_bytes(obj, metadata)
        _atomic_write(path, lambda f: f.write(data))
    elif format == "torch":
        _atomic_write(path, lambda f: _torch_save(obj, f, path))
    else:
        arrays = {}
        manifest = {"format": _FORMAT, "version": _VERSION, "root": _encode(obj, arrays)}
        if metadata is not None:
            manifest["metadata"] = metadata
        arrays[_MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
        _atomic_write(path, lambda f: np.savez(f, **arrays))


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

    def array(self, key):
        if not isinstance(key, str) or key not in self.archive.files:
            self.fail(f"the manifest refers to array {key!r}, which the file does not contain")
        return self.archive[key]

    def __call__(self, node):
        if not isinstance(node, dict) or len(node) == 0:
            self.fail(f"malformed manifest entry {node!r}")
        if "tensor" in node:
            return Tensor._wrap(self.array(node["tensor"]), requires_grad=bool(node.get("requires_grad", False)))
        if "ndarray" in node:
            a = self.array(node["ndarray"])
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


def load(path, format=None, *, with_metadata=False):
    """Load a checkpoint: nerve's own ``.npz``, a ``.safetensors`` file or a
    PyTorch ``torch.save`` file (read without PyTorch, refusing any pickled
    global a state dict does not need). ``format`` ("npz", "safetensors",
    "torch") overrides what the file name and contents say. With
    ``with_metadata``, returns ``(obj, metadata_dict)``. Raises ValueError naming
    the file when it is truncated, corrupted or of no format nerve reads, and
    ``UnsafeCheckpointError`` (a ValueError and a pickle.UnpicklingError) for a
    pickle that asks for anything but tensors and plain containers."""
    path = os.fspath(path)
    if format is not None and format not in _FORMATS:
        raise ValueError(f"nerve.load: unknown format {format!r}, expected one of {', '.join(_FORMATS)}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError as e:
        raise ValueError(f"nerve.load: {path}: is a directory, not a checkpoint file") from e
    format = format or _sniff(path, data)
    if format == "safetensors":
        return _safetensors_load(path, data, with_metadata)
    if format == "torch":
        obj = _torch_load(path, data)
        return (obj, {}) if with_metadata else obj
    return _npz_load(path, data, with_metadata)


def _sniff(path, data):
    """The format of a file's bytes; the extension decides only where the bytes are no known format."""
    if data[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            names = []
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "torch"
        if names:
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
            value = value.data
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
              "BOOL": "bool", "C64": "complex64"}


def _bf16_to_float32(bits):
    """float32 arrays from raw bf16 bits (uint16): bf16 is the upper half of a float32, so this is exact."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


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
            array = _bf16_to_float32(np.frombuffer(raw, dtype="<u2")).reshape(shape)
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
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"nerve.load: {path}: not a nerve checkpoint (a bare .npy array, not an .npz archive)")
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


def _torch_load(path, data):
    raise ValueError(f"nerve.load: {path}: reading PyTorch checkpoints is not implemented yet")


def _torch_save(obj, f, path):
    raise ValueError(f"nerve.save: {path}: writing PyTorch checkpoints is not implemented yet")
