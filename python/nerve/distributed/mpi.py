"""MPI backend: collectives on CPU (numpy) arrays through mpi4py.

One process per rank, started by ``mpirun -np N`` (Open MPI or MPICH), on one
machine or many. Every collective works in place on a C-contiguous numpy
array; the caller (process_group.py) makes that so. ``iall_reduce`` starts a
non-blocking ``MPI_Iallreduce`` and returns a Work whose ``wait()`` finishes
it: DistributedDataParallel starts one per gradient bucket while backward
still runs.

MPI has no average: AVG is SUM followed by a division by the world size.
"""
import numpy as np

_OPS = ("sum", "avg", "max", "min", "product")


def load():
    """Import mpi4py (which initialises MPI) or raise a RuntimeError saying how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(
            "nerve.distributed: backend 'mpi' needs mpi4py and an MPI library "
            "(pip install 'nerve[distributed]' with Open MPI or MPICH installed, "
            f"e.g. apt-get install openmpi-bin libopenmpi-dev); import failed: {e}") from e
    return MPI


class Work:
    """Handle of a started collective; ``wait()`` blocks until it is done."""

    def __init__(self, request=None, finish=None):
        self._request = request
        self._finish = finish

    def is_completed(self):
        return self._request is None or self._request.Test()

    def wait(self):
        if self._request is not None:
            self._request.Wait()
            self._request = None
        if self._finish is not None:
            self._finish()
            self._finish = None
        return True


class MPIBackend:
    name = "mpi"

    def __init__(self, comm=None):
        MPI = load()
        self.MPI = MPI
        # A private duplicate, so our collectives never match a user's own messages on COMM_WORLD.
        self.comm = (comm or MPI.COMM_WORLD).Dup()
        self.rank = self.comm.Get_rank()
        self.world_size = self.comm.Get_size()

    def _mpi_op(self, op):
        MPI = self.MPI
        return {"sum": MPI.SUM, "avg": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "product": MPI.PROD}[op]

    def check_array(self, what, array):
        if not isinstance(array, np.ndarray):
            raise RuntimeError(
                f"nerve.distributed.{what}: backend 'mpi' works on CPU tensors, got a tensor on "
                f"{type(array).__module__.split('.')[0]} (use backend='nccl' for CUDA tensors)")

    def iall_reduce(self, array, op):
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self._mpi_op(op))
        finish = (lambda: np.divide(array, self.world_size, out=array)) if op == "avg" else None
        return Work(request, finish)

    def all_reduce(self, array, op):
        self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self._mpi_op(op))
        if op == "avg":
            np.divide(array, self.world_size, out=array)

    def broadcast(self, array, src):
        self.comm.Bcast(array, root=src)

    def all_gather(self, out, array):
        """out: (world_size, *array.shape), contiguous."""
        self.comm.Allgather(array, out)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code=1):
        self.MPI.COMM_WORLD.Abort(code)

    def close(self):
        if self.comm is not None and not self.MPI.Is_finalized():
            self.comm.Free()
        self.comm = None
