"""Tensor creation, attributes, conversions and PyTorch-style methods."""
import numpy as np
import pytest

import nerve


def test_creation_shapes_and_dtypes():
    assert nerve.zeros(2, 3).shape == (2, 3) and nerve.zeros((2, 3)).dtype == nerve.float32
    assert nerve.ones(3, dtype=nerve.float64).dtype == nerve.float64
    assert nerve.empty(0, 3).shape == (0, 3)
    assert nerve.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert nerve.full((2,), 7).dtype == nerve.int64 and nerve.full((1,), True).dtype == nerve.bool
    assert nerve.arange(5).tolist() == [0, 1, 2, 3, 4] and nerve.arange(5).dtype == nerve.int64
    assert nerve.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert nerve.arange(0, 1, 0.5).dtype == nerve.float32
    assert nerve.eye(3)[1].tolist() == [0, 1, 0]
    assert nerve.linspace(0, 1, 3).tolist() == [0, 0.5, 1]
    assert nerve.tensor([1, 2]).dtype == nerve.int64
    assert nerve.tensor([1.0, 2]).dtype == nerve.float32
    assert nerve.tensor(np.ones(2)).dtype == nerve.float64  # numpy arrays keep their dtype
    assert nerve.tensor([True]).dtype == nerve.bool
    assert nerve.tensor(3.5).ndim == 0
    assert nerve.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="negative dimension"):
        nerve.zeros(-1)


def test_like_functions():
    x = nerve.ones(2, 3, dtype=nerve.float64)
    for fn in (nerve.zeros_like, nerve.ones_like, nerve.empty_like, nerve.rand_like, nerve.randn_like):
        y = fn(x)
        assert y.shape == (2, 3) and y.dtype == nerve.float64 and not y.requires_grad
    assert nerve.full_like(x, 4).tolist() == [[4, 4, 4]] * 2
    assert nerve.zeros_like(x, dtype=nerve.int32).dtype == nerve.int32
    assert nerve.ones_like(x, requires_grad=True).requires_grad


def test_random_is_seeded_and_in_range():
    nerve.manual_seed(5)
    a = (nerve.rand(3, 4), nerve.randn(7), nerve.randint(0, 10, (5,)), nerve.randint(4, (6,)), nerve.randperm(5))
    nerve.manual_seed(5)
    b = (nerve.rand(3, 4), nerve.randn(7), nerve.randint(0, 10, (5,)), nerve.randint(4, (6,)), nerve.randperm(5))
    for x, y in zip(a, b):
        assert x.equal(y)
    assert nerve.initial_seed() == 5
    r = nerve.rand(1000)
    assert r.dtype == nerve.float32 and 0 <= r.min().item() and r.max().item() < 1
    i = nerve.randint(3, 9, (1000,))
    assert i.dtype == nerve.int64 and i.min().item() >= 3 and i.max().item() <= 8
    assert sorted(nerve.randperm(7).tolist()) == list(range(7))
    with pytest.raises(TypeError, match="randint: missing required argument 'size'"):
        nerve.randint(3, 9)


def test_from_numpy_shares_memory_and_array_protocols():
    a = np.arange(6.0).reshape(2, 3)
    t = nerve.from_numpy(a)
    a[0, 0] = 9
    assert t[0, 0].item() == 9
    assert np.asarray(t) is a or np.shares_memory(np.asarray(t), a)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    d = nerve.from_dlpack(t)
    assert np.shares_memory(d.numpy(), a)
    assert np.shares_memory(np.from_dlpack(t), a)
    with pytest.raises(TypeError, match="from_numpy: expected np.ndarray"):
        nerve.from_numpy([1, 2])


def test_size_dim_numel_len_iter():
    x = nerve.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert repr(x.size()) == "nerve.Size([2, 3, 4])" and x.shape.numel() == 24
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24 and nerve.numel(x) == 24
    assert len(x) == 2
    rows = list(x)
    assert len(rows) == 2 and rows[0].shape == (3, 4)
    assert x.stride() == (12, 4, 1) and x.T.stride() == (1, 4, 12)
    assert x.element_size() == 4 and x.nbytes == 96
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(nerve.tensor(1.0))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(nerve.tensor(1.0))


def test_item_tolist_and_python_conversions():
    x = nerve.tensor([[1.5, 2.0]])
    assert x.tolist() == [[1.5, 2.0]]
    assert x[0, 1].item() == 2.0 and isinstance(x[0, 1].item(), float)
    assert nerve.tensor([3]).item() == 3 and isinstance(nerve.tensor([3]).item(), int)
    assert float(x[0, 0]) == 1.5 and int(x[0, 0]) == 1
    assert [10, 20, 30][nerve.tensor(2)] == 30
    assert bool(nerve.tensor([1.0])) and not bool(nerve.tensor(0.0))
    with pytest.raises(ValueError, match="item: only one-element tensors"):
        x.item()
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with 2 values is ambiguous"):
        bool(x)
    with pytest.raises(TypeError, match="only integer tensors"):
        [1, 2][nerve.tensor(1.0)]


def test_format_and_repr():
    assert f"{nerve.tensor(3.14159):.2f}" == "3.14"
    assert f"{nerve.tensor([2.5]):.1f}" == "2.5"
    assert f"{nerve.tensor(7):d}" == "7"
    assert "loss 0.500" == f"loss {nerve.tensor(0.5, requires_grad=True) * 1:.3f}"
    assert repr(nerve.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=nerve.float64" in repr(nerve.tensor([1.0], dtype=nerve.float64))
    assert "requires_grad=True" in repr(nerve.ones(1, requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(nerve.ones(1, requires_grad=True) * 2)


def test_new_tensors_follow_dtype_and_device():
    x = nerve.ones(2, dtype=nerve.float64)
    assert x.new_zeros(3, 4).shape == (3, 4) and x.new_zeros((3,)).dtype == nerve.float64
    assert x.new_ones(2).tolist() == [1, 1] and x.new_ones(2, dtype=nerve.int32).dtype == nerve.int32
    assert x.new_full((2,), 5).tolist() == [5, 5] and x.new_full((2,), 5).dtype == nerve.float64
    assert x.new_empty(3).shape == (3,)
    assert x.new_tensor([1, 2]).dtype == nerve.float64


def test_fill_zero_and_inplace_arithmetic():
    x = nerve.zeros(2, 3)
    assert x.fill_(2.5).tolist() == [[2.5] * 3] * 2
    assert x.zero_().tolist() == [[0.0] * 3] * 2
    x.add_(1).mul_(4).sub_(1).div_(2)
    assert x.tolist() == [[1.5] * 3] * 2
    x.add_(nerve.ones(3), alpha=2).sub_(nerve.ones(1), alpha=0.5)
    assert x.tolist() == [[3.0] * 3] * 2
    x.copy_(nerve.tensor([1.0, 2.0, 3.0]))
    assert x.tolist() == [[1, 2, 3]] * 2
    x.copy_(np.arange(6).reshape(2, 3))  # int source is cast to the tensor's dtype
    assert x.tolist() == [[0, 1, 2], [3, 4, 5]] and x.dtype == nerve.float32
    x.clamp_(1, 4).pow_(2)
    assert x.tolist() == [[1, 1, 4], [9, 16, 16]]
    i = nerve.tensor([1, 2])
    with pytest.raises(TypeError, match="div_: result type float32 can't be cast to the tensor's dtype int64"):
        i.div_(2)
    before = x._version
    x.add_(1)
    assert x._version == before + 1


def test_data_is_a_tensor_sharing_memory_outside_autograd():
    w = nerve.ones(3, requires_grad=True)
    d = w.data
    assert isinstance(d, nerve.Tensor) and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.array, w.array)
    w.data = w.data * 2  # assignment replaces the storage
    assert w.tolist() == [2, 2, 2] and w.requires_grad and w.is_leaf
    before = w._version
    w.data.add_(nerve.ones(3), alpha=-0.5)  # old-style SGD step: no graph, no leaf-in-place error
    assert w.tolist() == [1.5, 1.5, 1.5] and w.is_leaf and w._version == before  # .data is not version-tracked
    w.data.copy_(nerve.zeros(3))
    assert w.tolist() == [0, 0, 0]
    with pytest.raises(TypeError, match="data: expected a Tensor"):
        w.data = np.zeros(3)


def test_tensor_math_methods_exist_with_pytorch_names():
    x = nerve.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.abs().sum().item() == 10
    assert x.sign().tolist() == [[1, -1], [1, 1]]
    assert x.floor().tolist() == x.tolist() and x.ceil().tolist() == x.tolist()
    assert (x / 3).round().tolist() == [[0, -1], [1, 1]]
    assert x.isnan().any().item() is False and x.isfinite().all().item() is True
    assert x.allclose(x + 1e-9) and x.equal(x.clone()) and not x.equal(x[:1])
    assert x.logical_not().tolist() == [[False, False], [False, False]]
    assert x.masked_fill(x < 0, 0).tolist() == [[1, 0], [3, 4]]
    assert x.is_floating_point() and not x.long().is_floating_point()


def test_integer_and_boolean_dtypes():
    i = nerve.tensor([3, 1, 2], dtype=nerve.int32)
    assert i.dtype == nerve.int32 and (i * 2).dtype == nerve.int32
    assert nerve.tensor([1, 0], dtype=nerve.bool).tolist() == [True, False]
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients, got int64"):
        nerve.tensor([1, 2], requires_grad=True)
    assert nerve.tensor([1, 2], dtype=nerve.uint8).dtype == nerve.uint8


def test_dtype_aliases():
    assert nerve.float is nerve.float32 and nerve.double is nerve.float64 and nerve.long is nerve.int64
    assert nerve.set_default_dtype is not None and nerve.get_default_dtype() == nerve.float32
    nerve.set_default_dtype(nerve.float64)
    try:
        assert nerve.ones(1).dtype == nerve.float64 and nerve.tensor([1.0]).dtype == nerve.float64
    finally:
        nerve.set_default_dtype(nerve.float32)


def test_free_functions_match_methods():
    x = nerve.tensor([[1.0, 4.0], [9.0, 16.0]])
    for name in ("exp", "log", "log1p", "sqrt", "rsqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "square",
                 "neg", "clone", "flatten", "tril", "triu", "isnan", "isfinite"):
        method = (lambda t: -t) if name == "neg" else getattr(nerve.Tensor, name)
        assert getattr(nerve, name)(x).equal(method(x)), name
    assert nerve.sum(x).item() == 30 and nerve.mean(x, 0).tolist() == [5, 10]
    assert nerve.max(x).item() == 16 and nerve.min(x, 1).values.tolist() == [1, 9]
    assert nerve.amax(x, 0).tolist() == [9, 16] and nerve.amin(x, 1).tolist() == [1, 9]
    assert nerve.argmax(x).item() == 3 and nerve.var(x, 1).tolist() == [4.5, 24.5]
    assert nerve.pow(x, 0.5).tolist() == [[1, 2], [3, 4]] and nerve.mul(x, 2).equal(x * 2)
    assert nerve.div(x, 2).equal(x / 2) and nerve.transpose(x, 0, 1).equal(x.T)
    assert nerve.squeeze(x[None]).equal(x) and [p.shape for p in nerve.chunk(x, 2)] == [(1, 2), (1, 2)]
    assert len(nerve.unbind(x)) == 2 and nerve.narrow(x, 1, 1, 1).tolist() == [[4], [16]]
    assert nerve.logsumexp(x, 1).shape == (2,) and nerve.masked_fill(x, x > 5, 0).sum().item() == 5
    assert nerve.eq(x, 1).sum().item() == 1 and nerve.equal(x, x) and nerve.allclose(x, x)
    assert nerve.maximum(x, nerve.full((2, 2), 5.0)).tolist() == [[5, 5], [9, 16]]


def test_full_reductions_give_writable_0d_arrays():
    s = nerve.ones(3).sum()
    assert isinstance(s.numpy(), np.ndarray) and s.numpy().shape == ()
    s.add_(1)
    assert s.item() == 4
    m = nerve.ones(2, 2).mean()
    m.fill_(7)
    assert m.item() == 7
