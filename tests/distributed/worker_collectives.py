"""Run under mpirun -np N: every collective against values each rank can compute itself."""
import numpy as np

import nerve
import nerve.distributed as dist


def main():
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    ranks = np.arange(world, dtype=np.float64)

    base = np.arange(7, dtype=np.float32)
    expected = {
        "sum": sum(base * (r + 1) for r in ranks),
        "avg": sum(base * (r + 1) for r in ranks) / world,
        "max": base * world,
        "min": base * 1,
        "product": np.prod([base * (r + 1) for r in ranks], axis=0),
    }
    for op, want in expected.items():
        t = nerve.tensor(base * (rank + 1))
        version = t._version
        dist.all_reduce(t, op=op)
        np.testing.assert_allclose(t.numpy(), want, rtol=1e-6, err_msg=op)
        assert t._version > version, "all_reduce must bump the version counter"

    # Non-contiguous (a transposed view): reduced through a copy and written back into the view's base.
    base2 = nerve.tensor(np.arange(12, dtype=np.float64).reshape(3, 4) + rank)
    view = base2.t()
    dist.all_reduce(view, op=dist.ReduceOp.SUM)
    want = sum(np.arange(12, dtype=np.float64).reshape(3, 4) + r for r in ranks)
    np.testing.assert_allclose(base2.numpy(), want)

    # Asynchronous all_reduce, integer dtype.
    ti = nerve.tensor(np.full(5, rank + 1, dtype=np.int64))
    work = dist.all_reduce(ti, op="sum", async_op=True)
    work.wait()
    assert ti.numpy().tolist() == [world * (world + 1) // 2] * 5

    # A tensor that requires grad: data is reduced in place, the grad graph is untouched.
    p = nerve.ones(3, requires_grad=True)
    dist.all_reduce(p, op="sum")
    assert p.detach().numpy().tolist() == [float(world)] * 3 and p.requires_grad

    for src in range(world):
        t = nerve.tensor(np.full((2, 3), rank, dtype=np.float32))
        dist.broadcast(t, src=src)
        assert (t.numpy() == src).all(), (src, t.numpy())

    t = nerve.tensor(np.array([rank, 10 * rank, 100 * rank], dtype=np.float32))
    out = [nerve.zeros(3) for _ in range(world)]
    dist.all_gather(out, t)
    for r in range(world):
        assert out[r].numpy().tolist() == [r, 10 * r, 100 * r], (r, out[r])

    for bad, message in (
            (lambda: dist.all_gather([nerve.zeros(3)] * (world + 1), t), f"expected a list of {world} tensors"),
            (lambda: dist.all_gather([nerve.zeros(4)] * world, t), "tensor_list[0] expected shape (3,)"),
            (lambda: dist.all_reduce(t, op="mean"), "unknown op 'mean'"),
            (lambda: dist.all_reduce(nerve.tensor([1, 2]), op="avg"), "needs a floating-point tensor"),
            (lambda: dist.broadcast(t, src=world), f"src={world} is not a rank"),
            (lambda: dist.all_reduce(np.zeros(3)), "expected a nerve.Tensor"),
    ):
        try:
            bad()
        except (ValueError, TypeError) as e:
            assert message in str(e), (message, str(e))
        else:
            raise AssertionError(f"no error for: {message}")

    dist.barrier()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    try:
        dist.init_process_group("mpi", world_size=world + 1)
    except ValueError as e:
        assert f"world_size={world + 1} was given but MPI reports {world}" in str(e), str(e)
    else:
        raise AssertionError("no error for a wrong world_size")
    assert not dist.is_initialized()
    dist.init_process_group("mpi", world_size=world, rank=rank)  # a second group after destroy
    try:
        dist.init_process_group("mpi")
    except RuntimeError as e:
        assert "already initialized" in str(e), str(e)
    else:
        raise AssertionError("no error for a second init")
    dist.barrier()
    dist.destroy_process_group()
    print(f"collectives ok on rank {rank} of {world}", flush=True)


if __name__ == "__main__":
    main()
