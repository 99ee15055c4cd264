"""nerve.save / nerve.load: state dicts in a safe file format, written atomically.

Format: a NumPy ``.npz`` (zip) archive holding every array as ``a<i>.npy``
plus ``__nerve__.npy``, a uint8 array with a UTF-8 JSON manifest that
describes the saved object tree (dicts with str or int keys, lists, tuples,
tensors, numpy arrays, numbers, strings, booleans, None). Nothing is pickled:
loading uses ``np.load(allow_pickle=False)``, so a checkpoint cannot run code.

Saving writes a temporary file in the target's directory, flushes and fsyncs
it, then renames it over the target (``os.replace``): a crash or an error
mid-save leaves the old file whole. Tensors load on the CPU; Parameters load
as plain Tensors (``Module.load_state_dict`` copies them into parameters).
"""
import io
import json
import numbers
import os
import tempfile
import zipfile

import numpy as np

from nerve import backend
from nerve.tensor import Tensor

__all__ = ["save", "load"]

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


def save(obj, path):
    """Save a state dict (or any tree of tensors, arrays, numbers, strings) to ``path`` atomically."""
    path = os.fspath(path)
    arrays = {}
    manifest = {"format": _FORMAT, "version": _VERSION, "root": _encode(obj, arrays)}
    arrays[_MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
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


def load(path):
    """Load what ``save`` wrote. Raises ValueError naming the file when it is
    truncated, corrupted or not a nerve checkpoint."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError as e:
        raise ValueError(f"nerve.load: {path}: is a directory, not a checkpoint file") from e
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
            return _Decoder(path, archive)(manifest["root"])
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
            if str(e).startswith("nerve.load:"):
                raise
            raise ValueError(f"nerve.load: {path}: corrupted checkpoint ({type(e).__name__}: {e})") from e
