"""The default process group and the collectives on Tensors, PyTorch style.

``init_process_group(backend)`` makes one process group spanning every
process ``mpirun`` started; the collectives below act on it, in place, on
the tensor's array. Backends (mpi.py, nccl.py) see only C-contiguous arrays:
a non-contiguous tensor is reduced through a contiguous copy written back.

A process that dies with an uncaught exception while the others wait in a
collective would hang the job; so by default init_process_group installs an
exception hook that prints the traceback with the rank and calls MPI_Abort,
which ends every rank with a non-zero exit code (mpi4py's ``-m mpi4py`` does
the same).
"""
import importlib.util
import sys
import traceback

import numpy as np

from nerve.tensor import Tensor

__all__ = [
    "ReduceOp", "is_available", "is_mpi_available", "is_nccl_available", "is_initialized", "init_process_group",
    "destroy_process_group", "get_backend", "get_rank", "get_world_size", "barrier", "all_reduce", "broadcast",
    "all_gather",
]

BACKENDS = ("mpi", "nccl")


class ReduceOp:
    """Reduction operations of all_reduce (plain strings are accepted too)."""
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PRODUCT)
_group = None          # the backend object of the default group
_previous_hook = None  # sys.excepthook before ours


def is_mpi_available():
    """True when mpi4py is importable (it still needs an MPI library at run time)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available():
    """True when CuPy with NCCL can be imported (a GPU is checked at init)."""
    try:
        from cupy.cuda import nccl
    except ImportError:
        return False
    return bool(getattr(nccl, "available", True))


def is_available():
    """True when some backend can be imported (PyTorch's name)."""
    return is_mpi_available()


def is_initialized():
    return _group is not None


def _default_group(what):
    if _group is None:
        raise RuntimeError(f"nerve.distributed.{what}: the default process group is not initialized; "
                           "call nerve.distributed.init_process_group(backend='mpi' or 'nccl') first")
    return _group


def init_process_group(backend="mpi", init_method=None, world_size=-1, rank=-1, abort_on_exception=True):
    """Join the processes started by ``mpirun -np N`` into the default group.

    backend: 'mpi' (CPU tensors, mpi4py) or 'nccl' (CUDA tensors, CuPy's NCCL;
    MPI still starts the processes and hands out NCCL's unique id).
    init_method: only None or 'mpi://' (MPI's launcher provides rank and size).
    world_size, rank: optional; when given they must match what MPI reports.
    abort_on_exception: an uncaught exception on any rank aborts the whole
    job (MPI_Abort) instead of leaving the other ranks waiting forever.
    """
    global _group, _previous_hook
    if _group is not None:
        raise RuntimeError("nerve.distributed.init_process_group: already initialized; "
                           "call destroy_process_group() first")
    backend = str(backend).lower()
    if backend not in BACKENDS:
        raise ValueError(f"nerve.distributed.init_process_group: unknown backend {backend!r}, expected one of {BACKENDS}")
    if init_method not in (None, "mpi://"):
        raise ValueError(f"nerve.distributed.init_process_group: init_method {init_method!r} is not supported; "
                         "processes are started and wired by mpirun (leave init_method=None)")
    if backend == "nccl":
        from nerve.distributed.nccl import NCCLBackend
        group = NCCLBackend()
    else:
        from nerve.distributed.mpi import MPIBackend
        group = MPIBackend()
    for name, given, actual in (("world_size", world_size, group.world_size), ("rank", rank, group.rank)):
        if given not in (-1, None) and given != actual:
            group.close()
            raise ValueError(f"nerve.distributed.init_process_group: {name}={given} was given but MPI reports "
                             f"{actual} (start the job with mpirun -np <world_size>)")
    _group = group
    if abort_on_exception:
        _previous_hook = sys.excepthook
        sys.excepthook = _abort_on_exception


def _abort_on_exception(exc_type, exc, tb):
    group = _group
    where = f"rank {group.rank} of {group.world_size}" if group is not None else "a rank"
    sys.stderr.write(f"nerve.distributed: {where} raised an uncaught exception; aborting all ranks\n")
    sys.stderr.write("".join(traceback.format_exception(exc_type, exc, tb)))
    sys.stderr.flush()
    if group is not None:
        group.abort(1)
    (_previous_hook or sys.__excepthook__)(exc_type, exc, tb)


def destroy_process_group():
    """Leave the default group (frees its communicator; MPI itself is finalized at exit)."""
    global _group, _previous_hook
    group = _default_group("destroy_process_group")
    _group = None
    if sys.excepthook is _abort_on_exception:
        sys.excepthook = _previous_hook or sys.__excepthook__
    _previous_hook = None
    group.close()


def get_backend():
    return _default_group("get_backend").name


def get_rank():
    return _default_group("get_rank").rank


def get_world_size():
    return _default_group("get_world_size").world_size


def barrier():
    """Block until every rank of the group has reached this call."""
    _default_group("barrier").barrier()


class _Done:
    """Work of a collective that already finished (async_op=True on a blocking call)."""

    def is_completed(self):
        return True

    def wait(self):
        return True


class _WriteBack:
    """Work that, once the collective is done, copies a contiguous buffer back into a strided tensor."""

    def __init__(self, work, finish):
        self._work, self._finish = work, finish

    def is_completed(self):
        return self._finish is None or self._work.is_completed()

    def wait(self):
        self._work.wait()
        if self._finish is not None:
            self._finish()
            self._finish = None
        return True


def _array_of(what, tensor, group, name="tensor"):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nerve.distributed.{what}: argument '{name}' expected a nerve.Tensor, got {type(tensor).__name__}")
    group.check_array(what, tensor.array)
    return tensor.array


def _contiguous(array):
    return array if array.flags.c_contiguous else array.copy()


def _store(tensor, array):
    """Write array into tensor in place (when it was reduced through a copy) and bump its version."""
    if array is not tensor.array:
        tensor.array[...] = array
    tensor._version_counter.value += 1


def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Reduce ``tensor`` over all ranks (sum, avg, max, min, product); every rank gets the result in place.

    With async_op=True, returns a Work whose wait() must be called before the tensor is read.
    """
    group = _default_group("all_reduce")
    if op not in _OPS:
        raise ValueError(f"nerve.distributed.all_reduce: unknown op {op!r}, expected one of {_OPS}")
    data = _array_of("all_reduce", tensor, group)
    if op == ReduceOp.AVG and data.dtype.kind not in "fc":
        raise TypeError(f"nerve.distributed.all_reduce: op 'avg' needs a floating-point tensor, got {data.dtype}")
    buf = _contiguous(data)
    if not async_op:
        group.all_reduce(buf, op)
        _store(tensor, buf)
        return None
    return _WriteBack(group.iall_reduce(buf, op), lambda: _store(tensor, buf))


def broadcast(tensor, src=0, async_op=False):
    """Copy ``tensor`` of rank ``src`` into ``tensor`` on every other rank, in place."""
    group = _default_group("broadcast")
    if not 0 <= int(src) < group.world_size:
        raise ValueError(f"nerve.distributed.broadcast: src={src} is not a rank of a group of {group.world_size}")
    data = _array_of("broadcast", tensor, group)
    buf = _contiguous(data)
    group.broadcast(buf, int(src))
    _store(tensor, buf)
    return _Done() if async_op else None


def all_gather(tensor_list, tensor, async_op=False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` (all the same shape and dtype), on every rank."""
    group = _default_group("all_gather")
    data = _array_of("all_gather", tensor, group)
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != group.world_size:
        got = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list).__name__
        raise ValueError(f"nerve.distributed.all_gather: argument 'tensor_list' expected a list of "
                         f"{group.world_size} tensors (one per rank), got {got}")
    for i, t in enumerate(tensor_list):
        out = _array_of("all_gather", t, group, f"tensor_list[{i}]")
        if out.shape != data.shape or out.dtype != data.dtype:
            raise ValueError(f"nerve.distributed.all_gather: tensor_list[{i}] expected shape {tuple(data.shape)} "
                             f"and dtype {data.dtype}, got {tuple(out.shape)} and {out.dtype}")
    xp = np if isinstance(data, np.ndarray) else group.cupy
    gathered = xp.empty((group.world_size,) + tuple(data.shape), dtype=data.dtype)
    group.all_gather(gathered, _contiguous(data))
    for t, part in zip(tensor_list, gathered):
        _store(t, part)
    return _Done() if async_op else None
