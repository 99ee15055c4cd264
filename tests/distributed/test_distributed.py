"""nerve.distributed: collectives, DistributedDataParallel and DistributedSampler.

The multi-process tests launch ``mpirun -np N`` on a worker script
(worker_*.py beside this file) over loopback TCP and check its exit code and
output; they skip, saying why, where mpirun or mpi4py is missing (CI
installs Open MPI and mpi4py, so it runs them). The rest run in-process
without MPI.
"""
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nerve
import nerve.distributed as dist
from nerve import nn
from nerve.nn.parallel import DistributedDataParallel

HERE = Path(__file__).parent
TIMEOUT_S = 60


def _missing(reason):
    """Skip where MPI is absent, but fail in CI (NERVE_REQUIRE_MPI=1), which must run these tests."""
    if os.environ.get("NERVE_REQUIRE_MPI") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _mpirun_command(np_):
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        _missing("mpirun not found: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) "
                    "to run the multi-process tests")
    if not dist.is_mpi_available():
        _missing("mpi4py is not installed: pip install 'nerve[distributed]' to run the multi-process tests")
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        # Loopback TCP only, more ranks than cores allowed: works in containers and on laptops.
        return [mpirun, "-np", str(np_), "--oversubscribe", "--mca", "btl", "self,tcp",
                "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
    return [mpirun, "-np", str(np_)]  # MPICH's hydra needs no options for one machine


def run_mpi(script, np_=2, *args):
    """Run ``python <script> args`` (a worker beside this file, or ``-m module``) on np_ ranks."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none")
    target = [script] if script == "-m" else [str(HERE / script)]
    cmd = _mpirun_command(np_) + [sys.executable, *target, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{script} under mpirun -np {np_} hung for {TIMEOUT_S} s:\n{e.stdout}\n{e.stderr}")
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("np_", [2, 3])
def test_collectives_match_expected_values(np_):
    code, out = run_mpi("worker_collectives.py", np_)
    assert code == 0, out
    for r in range(np_):
        assert f"collectives ok on rank {r} of {np_}" in out, out


@pytest.mark.parametrize("np_,args", [(2, ()), (3, ()), (2, ("--serialized",))],
                         ids=["2-ranks", "3-ranks", "2-ranks-iallreduce"])
def test_ddp_training_matches_one_process_on_the_combined_batch(np_, args):
    code, out = run_mpi("worker_ddp.py", np_, *args)
    assert code == 0, out
    for r in range(np_):
        assert f"ddp ok on rank {r} of {np_}" in out, out


def test_a_failing_rank_aborts_the_job_with_its_traceback():
    code, out = run_mpi("worker_fail.py", 2)
    assert code != 0, out
    assert "nerve.distributed: rank 1 of 2 raised an uncaught exception; aborting all ranks" in out, out
    assert "ValueError: deliberate failure on rank 1" in out, out
    assert "rank 0 was not aborted" not in out, out


def test_nerve_train_distributed_under_mpirun(tmp_path):
    out = tmp_path / "mlp.npz"
    code, text = run_mpi("-m", 2, "nerve", "train", "mlp", "--epochs", "1", "--distributed", "--quiet",
                         "--out", str(out))
    assert code == 0, text
    assert text.count("mlp: test accuracy") == 1, "only rank 0 reports\n" + text
    checkpoint = nerve.load(str(out))
    assert checkpoint["config"]["distributed"] is True
    from nerve.models import MLP
    assert set(checkpoint["model"]) == set(MLP(64, (128, 64), 10).state_dict()), "no DDP 'module.' prefix"


# ------------------------------------------------------------------ in-process, no MPI needed
def test_dataloader_takes_a_distributed_sampler():
    ds = nerve.data.TensorDataset(nerve.arange(7), nerve.arange(7) * 10)
    sampler = dist.DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    loader = nerve.data.DataLoader(ds, batch_size=3, sampler=sampler)
    assert len(loader) == 2
    assert [x.tolist() for x, _ in loader] == [[1, 3, 5], [0]]  # 7 samples padded to 8: rank 1 gets 1, 3, 5, 0
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        nerve.data.DataLoader(ds, shuffle=True, sampler=sampler)


def test_collectives_before_init_say_so():
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, dist.barrier, dist.destroy_process_group,
                 lambda: dist.all_reduce(nerve.ones(2))):
        with pytest.raises(RuntimeError, match="default process group is not initialized"):
            call()


def test_init_rejects_unknown_backend_and_init_method():
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="init_method 'tcp://x:1' is not supported"):
        dist.init_process_group("mpi", init_method="tcp://x:1")
    assert not dist.is_initialized()


@pytest.mark.skipif(nerve.cuda.is_available(), reason="a GPU with CuPy is present: NCCL could start")
def test_nccl_without_cupy_or_gpu_raises_a_clear_error():
    with pytest.raises(RuntimeError, match="backend 'nccl' needs (CuPy built with NCCL|a CUDA GPU)"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


def test_ddp_needs_an_initialized_group():
    with pytest.raises(RuntimeError, match="DistributedDataParallel: the default process group is not initialized"):
        DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="expected a nerve.nn.Module, got function"):
        DistributedDataParallel(lambda x: x)


def _torch_sampler_indices(n, num_replicas, rank, drop_last):
    """PyTorch's DistributedSampler without shuffle, written out as its source does it."""
    indices = list(range(n))
    if drop_last and n % num_replicas != 0:
        num_samples = math.ceil((n - num_replicas) / num_replicas)
    else:
        num_samples = math.ceil(n / num_replicas)
    total = num_samples * num_replicas
    if not drop_last:
        pad = total - len(indices)
        if pad <= len(indices):
            indices += indices[:pad]
        else:
            indices += (indices * math.ceil(pad / len(indices)))[:pad]
    else:
        indices = indices[:total]
    return indices[rank:total:num_replicas]


@pytest.mark.parametrize("n", [1, 3, 7, 17, 33])
@pytest.mark.parametrize("replicas", [1, 2, 3, 5])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_pytorch_without_shuffle(n, replicas, drop_last):
    for rank in range(replicas):
        s = dist.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        want = _torch_sampler_indices(n, replicas, rank, drop_last)
        assert list(s) == want
        assert len(s) == len(want)


@pytest.mark.parametrize("n,replicas", [(17, 3), (33, 4), (2, 5), (0, 2)])
def test_sampler_shuffle_partitions_and_changes_with_epoch(n, replicas):
    def shards(epoch, seed=0):
        out = []
        for r in range(replicas):
            s = dist.DistributedSampler(list(range(n)), num_replicas=replicas, rank=r, seed=seed)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    first = shards(0)
    assert first == shards(0), "same seed and epoch must give the same shards"
    for epoch in (0, 1):
        merged = sum(shards(epoch), [])
        assert set(merged) == set(range(n)), "every sample is seen"
        assert len(merged) == math.ceil(n / replicas) * replicas, "padded to equal shards"
    if n >= 17:
        assert shards(1) != first and shards(0, seed=1) != first


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"invalid rank 3, rank should be in the interval \[0, 2\]"):
        dist.DistributedSampler(range(4), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas must be >= 1, got 0"):
        dist.DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(RuntimeError, match="pass num_replicas and rank, or call"):
        dist.DistributedSampler(range(4))


def test_post_accumulate_hook_runs_once_per_gradient_edge():
    w = nerve.ones(3, requires_grad=True)
    seen = []
    w._post_accumulate_grad_hooks = [lambda p: seen.append(p.grad.numpy().copy())]
    (w * w + w).sum().backward()  # three edges into w
    assert len(seen) == 3
    np.testing.assert_allclose(seen[-1], np.full(3, 3.0))


class _OneRankGroup:
    """A stand-in MPI group of one rank, recording the all-reduces DDP starts (no MPI needed)."""
    name, rank, world_size = "fake", 0, 1

    def __init__(self):
        self.started = []

    def check_array(self, what, array):
        pass

    def iall_reduce(self, array, op):
        from nerve.distributed.mpi import Work
        self.started.append((array.size, op))
        return Work(None)

    def all_reduce(self, array, op):
        pass

    def broadcast(self, array, src):
        pass

    def barrier(self):
        pass


@pytest.fixture
def one_rank_group(monkeypatch):
    from nerve.distributed import process_group
    group = _OneRankGroup()
    monkeypatch.setattr(process_group, "_group", group)
    return group


def test_ddp_buckets_start_in_order_while_backward_runs(one_rank_group):
    nerve.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    ref = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    ref.load_state_dict(net.state_dict())
    ddp = DistributedDataParallel(net, bucket_cap_mb=64 / 2 ** 20)  # 64 bytes: one bucket per layer or so
    sizes = [b.buffer.size for b in ddp._buckets]  # gradients and one flag per parameter
    assert sum(sizes) == sum(p.numel() + 1 for p in net.parameters()) and len(sizes) >= 3
    started_when_first_layer_done = []
    net[0].weight._post_accumulate_grad_hooks.insert(
        0, lambda p: started_when_first_layer_done.append(len(one_rank_group.started)))
    x = nerve.randn(7, 3)
    ddp(x).sum().backward()
    ref(x).sum().backward()
    assert one_rank_group.started == [(n, "avg") for n in sizes]
    assert started_when_first_layer_done == [len(sizes) - 1], "earlier buckets start before backward ends"
    for p, q in zip(net.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)

    one_rank_group.started.clear()
    with ddp.no_sync():
        ddp(x).sum().backward()
    assert one_rank_group.started == []
    ddp(x).sum().backward()
    assert len(one_rank_group.started) == len(sizes)
    ref(x).sum().backward()
    ref(x).sum().backward()
    for p, q in zip(net.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)
    assert "module.0.weight" in ddp.state_dict()
