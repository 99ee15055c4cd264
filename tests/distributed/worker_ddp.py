"""Run under mpirun -np N: DDP training matches one process training on the combined batch."""
import copy
import pickle
import sys

import numpy as np

import nerve
import nerve.distributed as dist
from nerve import nn
from nerve.nn.parallel import DistributedDataParallel as DDP

LR = 0.1
STEPS = 4
PER_RANK = 3


class Net(nn.Module):
    """Three linear layers (several buckets) and a head only some ranks use (unused parameters)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
        self.extra = nn.Linear(5, 2)

    def forward(self, x, use_extra=False):
        out = self.body(x)
        return out + self.extra(x) if use_extra else out


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 2)
        self.b = nn.Linear(5, 2)

    def forward(self, x):
        return self.a(x), self.b(x)


def expect_error(fn, message):
    try:
        fn()
    except RuntimeError as e:
        assert message in str(e), str(e)
    else:
        raise AssertionError(f"no error: {message}")


def make(seed):
    nerve.manual_seed(seed)
    return Net()


def sgd(model):
    """SGD with momentum: its state makes a gradient that should be None but is zero show."""
    return nerve.optim.SGD(model.parameters(), lr=LR, momentum=0.9)


def mse(out, y):
    return ((out - nerve.tensor(y)) ** 2).mean()


def params_of(model):
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


def assert_same_on_all_ranks(model, world):
    mine = nerve.tensor(params_of(model))
    gathered = [nerve.zeros(mine.shape[0]) for _ in range(world)]
    dist.all_gather(gathered, mine)
    for g in gathered:
        assert np.array_equal(g.numpy(), mine.numpy()), "replicas diverged"


def main():
    if "--serialized" in sys.argv:  # no MPI_THREAD_MULTIPLE: the backend falls back to MPI_Iallreduce
        import mpi4py
        mpi4py.rc.thread_level = "serialized"
    dist.init_process_group("mpi")
    assert (dist.process_group._group._async_comm is None) == ("--serialized" in sys.argv)
    rank, world = dist.get_rank(), dist.get_world_size()
    n = PER_RANK * world
    rng = np.random.default_rng(1234)  # same data on every rank
    X = rng.standard_normal((STEPS, 2, n, 5)).astype(np.float32)
    Y = rng.standard_normal((STEPS, 2, n, 2)).astype(np.float32)
    sampler = dist.DistributedSampler(range(n), shuffle=True, seed=7)
    assert len(sampler) == PER_RANK

    different = nn.Linear(3, 2 + (rank == world - 1))
    expect_error(lambda: DDP(different), "the wrapped models differ between ranks")

    ref = make(0)                          # one process, combined batch
    model = make(0 if rank == 0 else 99)   # replicas start apart: DDP broadcasts rank 0's parameters
    ddp = DDP(model, bucket_cap_mb=200 / 2 ** 20)
    assert len(ddp._buckets) >= 3, ddp
    np.testing.assert_array_equal(params_of(model), params_of(ref))
    opt_ref, opt = sgd(ref), sgd(model)
    # Overlap: when the first layer's weight (the last bucket) gets its gradient, earlier buckets are under way.
    launched = []
    first = model.body[0].weight
    first._post_accumulate_grad_hooks.insert(0, lambda p: launched.append(ddp._next_bucket))

    for step in range(STEPS):
        sampler.set_epoch(step)
        mine = list(sampler)
        # Rank 0 runs the extra head on its samples, the others do not: the reference does the same per shard.
        ref.zero_grad()
        shards = []
        for r in range(world):
            s = dist.DistributedSampler(range(n), world, r, seed=7)
            s.set_epoch(step)
            shards.append(list(s))
        assert shards[rank] == mine
        assert sorted(sum(shards, [])) == list(range(n)), "shards must partition the batch"
        loss = sum(mse(ref(nerve.tensor(X[step, 0, idx]), use_extra=(r == 0)), Y[step, 0, idx])
                   for r, idx in enumerate(shards)) * (1.0 / world)
        loss.backward()
        opt_ref.step()

        model.zero_grad()
        mse(ddp(nerve.tensor(X[step, 0, mine]), use_extra=(rank == 0)), Y[step, 0, mine]).backward()
        opt.step()
        np.testing.assert_allclose(params_of(model), params_of(ref), rtol=1e-5, atol=1e-6,
                                   err_msg=f"DDP step {step}")
    assert_same_on_all_ranks(model, world)
    assert launched == [len(ddp._buckets) - 1] * STEPS, (launched, ddp)
    first._post_accumulate_grad_hooks.pop(0)

    # Gradient accumulation: two micro-batches, the first inside no_sync(); the reference sees both at once.
    for step in range(STEPS):
        ref.zero_grad()
        model.zero_grad()
        loss = sum(mse(ref.body(nerve.tensor(X[step, m])), Y[step, m]) for m in range(2)) * 0.5
        loss.backward()
        opt_ref.step()
        idx = list(range(rank * PER_RANK, (rank + 1) * PER_RANK))
        with ddp.no_sync():
            (mse(ddp(nerve.tensor(X[step, 0, idx])), Y[step, 0, idx]) * 0.5).backward()
        local = ddp.module.body[0].weight.grad.numpy().copy()
        (mse(ddp(nerve.tensor(X[step, 1, idx])), Y[step, 1, idx]) * 0.5).backward()
        assert not np.array_equal(local, ddp.module.body[0].weight.grad.numpy())
        opt.step()
        np.testing.assert_allclose(params_of(model), params_of(ref), rtol=1e-5, atol=1e-6,
                                   err_msg=f"no_sync step {step}")
    assert_same_on_all_ranks(model, world)

    # A forward whose graph is not fully back-propagated is reported at the next forward.
    x = nerve.tensor(X[0, 0, :PER_RANK])
    out = ddp(x, use_extra=True)
    (out[:, 0].sum() * 0).backward()   # reaches every parameter: fine
    with nerve.no_grad():
        ddp(x)                         # no graph: nothing prepared, nothing reduced
    ddp(x)                             # forward without backward: silently dropped
    loss = mse(ddp(x), Y[0, 0, :PER_RANK])
    loss.backward(retain_graph=True)
    expect_error(lambda: loss.backward(), "a gradient arrived after this iteration's gradients were already reduced")

    # A deep copy of the wrapped model (an EMA model, say) trains on its own, without the process group.
    twin = copy.deepcopy(model)
    twin.zero_grad()
    mse(twin(x), Y[0, 0, :PER_RANK]).backward()  # DDP is in its reduced state: a live hook would raise here
    assert all(p.grad is not None for p in twin.body.parameters())
    pickle.loads(pickle.dumps(model))

    # Only one of two outputs in the loss: the other head's gradients never come, and the next forward says so.
    heads = DDP(TwoHeads())
    first, _ = heads(x)
    first.sum().backward()
    expect_error(lambda: heads(x), "the previous backward did not deliver gradients to every parameter")
    a, b = heads(x)
    (a.sum() + b.sum()).backward()
    assert all(p.grad is not None for p in heads.parameters())
    print(f"ddp ok on rank {rank} of {world}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
