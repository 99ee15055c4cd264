"""Run under mpirun -np 2: rank 1 raises while rank 0 waits in a collective; the job must abort, not hang."""
import nerve
import nerve.distributed as dist

dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise ValueError("deliberate failure on rank 1")
dist.all_reduce(nerve.ones(3))  # rank 0 waits here for a partner that is gone
print("rank 0 was not aborted", flush=True)
