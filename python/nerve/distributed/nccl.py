"""NCCL backend: collectives on CUDA (cupy) arrays through cupy.cuda.nccl.

Processes are still started by ``mpirun``: MPI gives each process its rank,
picks its GPU (the rank among the processes on the same machine, modulo the
GPUs visible) and carries NCCL's unique id from rank 0 to the others. The
collectives themselves run on the GPU, queued on CuPy's current stream, so
they are ordered with the kernels before and after them without a host
synchronisation; ``Work.wait()`` only queues what follows (AVG's division).

NCCL has no barrier: ``barrier()`` all-reduces one element and synchronises
the stream. AVG is SUM then a division (NCCL_AVG needs NCCL >= 2.10).

Not exercised by the test-suite (no GPU in CI): the tests only check that
``init_process_group('nccl')`` says clearly why it cannot start.
"""
from nerve.distributed import mpi as _mpi


def load():
    """Import cupy.cuda.nccl and check a GPU is visible, or raise a RuntimeError saying why."""
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as e:
        raise RuntimeError(
            "nerve.distributed: backend 'nccl' needs CuPy built with NCCL "
            f"(pip install 'nerve[cuda]'); import failed: {e}") from e
    if not getattr(nccl, "available", True):
        raise RuntimeError("nerve.distributed: backend 'nccl': this CuPy was built without NCCL support")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no device
        raise RuntimeError(f"nerve.distributed: backend 'nccl' needs a CUDA GPU, none is usable ({e})") from e
    if n == 0:
        raise RuntimeError("nerve.distributed: backend 'nccl' needs a CUDA GPU, none is visible")
    return cupy, nccl


class Work:
    def __init__(self, finish=None):
        self._finish = finish

    def is_completed(self):
        return self._finish is None

    def wait(self):
        if self._finish is not None:
            self._finish()
            self._finish = None
        return True


class NCCLBackend:
    name = "nccl"

    def __init__(self):
        self.cupy, self.nccl = load()
        self.mpi = _mpi.MPIBackend()  # rank, world size, unique-id exchange, abort
        self.rank, self.world_size = self.mpi.rank, self.mpi.world_size
        MPI = self.mpi.MPI
        local = self.mpi.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = local.Get_rank()
        local.Free()
        self.device = self.local_rank % self.cupy.cuda.runtime.getDeviceCount()
        self.cupy.cuda.Device(self.device).use()
        uid = self.nccl.get_unique_id() if self.rank == 0 else None
        uid = self.mpi.comm.bcast(uid, root=0)
        self.comm = self.nccl.NcclCommunicator(self.world_size, uid, self.rank)
        n = self.nccl
        self._ops = {"sum": n.NCCL_SUM, "avg": n.NCCL_SUM, "max": n.NCCL_MAX, "min": n.NCCL_MIN,
                     "product": n.NCCL_PROD}
        self._types = {name: getattr(n, const) for name, const in (
            ("float16", "NCCL_FLOAT16"), ("float32", "NCCL_FLOAT32"), ("float64", "NCCL_FLOAT64"),
            ("int8", "NCCL_INT8"), ("uint8", "NCCL_UINT8"), ("int32", "NCCL_INT32"),
            ("uint32", "NCCL_UINT32"), ("int64", "NCCL_INT64"), ("uint64", "NCCL_UINT64"))
            if hasattr(n, const)}

    def check_array(self, what, array):
        if not isinstance(array, self.cupy.ndarray):
            raise RuntimeError(f"nerve.distributed.{what}: backend 'nccl' works on CUDA tensors, got a CPU tensor "
                               "(move it with .cuda(), or use backend='mpi' for CPU tensors)")
        if array.dtype.name not in self._types:
            raise TypeError(f"nerve.distributed.{what}: backend 'nccl' does not support dtype {array.dtype.name} "
                            f"(supported: {', '.join(self._types)})")
        if array.device.id != self.device:
            raise RuntimeError(f"nerve.distributed.{what}: tensor is on cuda:{array.device.id}, but this rank's "
                               f"NCCL communicator uses cuda:{self.device}")

    def _stream(self):
        return self.cupy.cuda.get_current_stream().ptr

    def iall_reduce(self, array, op):
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, self._types[array.dtype.name],
                            self._ops[op], self._stream())
        return Work((lambda: self.cupy.divide(array, self.world_size, out=array)) if op == "avg" else None)

    def all_reduce(self, array, op):
        self.iall_reduce(array, op).wait()

    def broadcast(self, array, src):
        self.comm.bcast(array.data.ptr, array.size, self._types[array.dtype.name], src, self._stream())

    def all_gather(self, out, array):
        self.comm.allGather(array.data.ptr, out.data.ptr, array.size, self._types[array.dtype.name], self._stream())

    def barrier(self):
        one = self.cupy.ones(1, dtype=self.cupy.float32)
        self.all_reduce(one, "sum")
        self.cupy.cuda.get_current_stream().synchronize()

    def abort(self, code=1):
        self.mpi.abort(code)

    def close(self):
        if self.comm is not None:
            self.cupy.cuda.get_current_stream().synchronize()
            self.comm.destroy()
            self.comm = None
        self.mpi.close()
