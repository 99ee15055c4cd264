"""PyTorch's namespace around the Tensor: module layout, dtype and device
objects, backends flags, generators, grad-mode context managers and the
exception types ported code catches."""
import numpy as np
import pytest

import nerve


def test_submodules_are_attributes_and_torch_style_imports_work():
    assert nerve.kernels.matmul and nerve.testing.gradcheck and nerve.utils.data.DataLoader is nerve.data.DataLoader
    from nerve.utils.data import DataLoader, Dataset, RandomSampler, TensorDataset, random_split  # noqa: F401
    from nerve.utils.data.distributed import DistributedSampler
    from nerve.utils.data.dataloader import default_collate
    assert DistributedSampler is nerve.distributed.DistributedSampler and default_collate is nerve.data.default_collate
    import nerve.backends.cudnn as cudnn
    assert cudnn is nerve.backends.cudnn


def test_dtypes_are_objects_comparing_with_numpy():
    assert nerve.float == nerve.float32 == np.float32 and nerve.double == np.float64 and nerve.half == np.float16
    assert nerve.long == np.int64 and nerve.int == np.int32 and nerve.short == np.int16 and nerve.bool == np.bool_
    assert nerve.int8 == np.int8 and nerve.uint8 == np.uint8
    assert all(isinstance(d, nerve.dtype) for d in (nerve.float16, nerve.int64, nerve.bool))
    assert nerve.zeros(2, dtype=nerve.long).dtype == nerve.int64
    assert nerve.finfo(nerve.float32).eps == np.finfo(np.float32).eps and nerve.iinfo(nerve.int8).max == 127
    before = nerve.get_default_dtype()
    try:
        nerve.set_default_dtype(nerve.float64)
        assert nerve.tensor([1.5]).dtype == nerve.float64 and nerve.randn(2).dtype == nerve.float64
    finally:
        nerve.set_default_dtype(before)


def test_devices_are_accepted_where_strings_are():
    cpu = nerve.device("cpu")
    x = nerve.zeros(2, device=cpu)
    assert x.device == cpu == "cpu" and x.to(cpu) is x and x.to(nerve.device("cpu"), nerve.float64).dtype == np.float64
    assert nerve.ones_like(x, device=cpu).is_cpu and nerve.randn(2, device=cpu).device.type == "cpu"
    assert nerve.tensor([1.0], device=cpu).is_cpu and nerve.arange(3, device=cpu).is_cpu


def test_backends_flags_and_cuda_seeding_are_harmless():
    nerve.backends.cuda.matmul.allow_tf32 = True
    nerve.backends.cudnn.allow_tf32 = True
    nerve.backends.cudnn.benchmark = True
    nerve.backends.cudnn.deterministic = True
    assert nerve.backends.cudnn.benchmark and nerve.backends.cudnn.enabled
    assert nerve.backends.mps.is_available() is False
    nerve.cuda.manual_seed(0)
    nerve.cuda.manual_seed_all(0)
    nerve.cuda.empty_cache()
    nerve.set_printoptions(precision=2, sci_mode=False)
    try:
        assert "3.14" in repr(nerve.tensor([3.14159])) and "3.142" not in repr(nerve.tensor([3.14159]))
    finally:
        nerve.set_printoptions(profile="default")


def test_generator_seeds_states_and_feeds_random_ops():
    g = nerve.Generator().manual_seed(42)
    assert g.initial_seed() == 42
    state = g.get_state()
    assert isinstance(state, nerve.Tensor) and state.dtype == nerve.uint8
    first = [nerve.randn(3, generator=g), nerve.rand(2, generator=g), nerve.randint(0, 10, (4,), generator=g),
             nerve.randperm(5, generator=g), nerve.normal(0.0, 1.0, size=(2,), generator=g)]
    g.set_state(state)
    again = [nerve.randn(3, generator=g), nerve.rand(2, generator=g), nerve.randint(0, 10, (4,), generator=g),
             nerve.randperm(5, generator=g), nerve.normal(0.0, 1.0, size=(2,), generator=g)]
    assert all(a.equal(b) for a, b in zip(first, again))
    # an explicit generator leaves the default one alone
    nerve.manual_seed(0)
    ref = nerve.randn(3)
    nerve.manual_seed(0)
    nerve.randn(3, generator=nerve.Generator().manual_seed(5))
    assert nerve.randn(3).equal(ref)
    assert nerve.manual_seed(1) is nerve.default_generator and nerve.initial_seed() == 1
    s = nerve.get_rng_state()
    a = nerve.rand(4)
    nerve.set_rng_state(s)
    assert nerve.rand(4).equal(a)
    assert nerve.bernoulli(nerve.full((1000,), 0.3), generator=g).mean().item() == pytest.approx(0.3, abs=0.06)
    assert isinstance(g.seed(), int)


def test_grad_mode_context_managers_and_decorators():
    w = nerve.ones(2, requires_grad=True)
    with nerve.inference_mode():
        assert nerve.is_inference_mode_enabled() and not (w * 2).requires_grad
    with nerve.inference_mode(False):
        assert (w * 2).requires_grad
    with nerve.no_grad():
        with nerve.enable_grad():
            assert (w * 2).requires_grad

    @nerve.inference_mode
    def bare():
        return (w * 2).requires_grad

    @nerve.set_grad_enabled(False)
    def off():
        return (w * 2).requires_grad

    assert bare() is False and off() is False and nerve.is_grad_enabled()
    nerve.set_grad_enabled(False)
    try:
        assert not (w * 2).requires_grad
    finally:
        nerve.set_grad_enabled(True)
    with nerve.set_grad_enabled(False):
        assert not nerve.is_grad_enabled()
    assert nerve.is_grad_enabled()


@pytest.mark.parametrize("bad", [
    lambda: nerve.ones(2, 3) + nerve.ones(4),
    lambda: nerve.ones(2, 3) == nerve.ones(4),
    lambda: nerve.ones(2, 3) @ nerve.ones(4, 5),
    lambda: nerve.ones(2, 3).view(7),
    lambda: nerve.ones(2, 3).reshape(4, -1),
    lambda: nerve.cat([nerve.ones(2, 3), nerve.ones(2, 4)]),
    lambda: nerve.stack([nerve.ones(2), nerve.ones(3)]),
    lambda: nerve.ones(2, 3).expand(4, 3),
    lambda: nerve.ones(2, 3).mm(nerve.ones(2)),
    lambda: nerve.ones(2, 3, 4).bmm(nerve.ones(2, 5, 4)),
])
def test_shape_errors_are_runtime_and_value_errors(bad):
    with pytest.raises(RuntimeError) as info:
        bad()
    assert isinstance(info.value, ValueError) and isinstance(info.value, nerve.ShapeError)


def test_dtype_and_index_errors():
    with pytest.raises(RuntimeError, match="div_"):
        nerve.tensor([1, 2]).div_(2)
    with pytest.raises(TypeError):
        nerve.tensor([1, 2]).div_(2)
    with pytest.raises(IndexError):
        nerve.ones(3)[5]
    with pytest.raises(IndexError):
        nerve.ones(2, 3).sum(dim=4)
    with pytest.raises(IndexError):
        nerve.zeros(2, 3).scatter(1, nerve.tensor([[3], [0]]), 1.0)
