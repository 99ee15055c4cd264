"""Shape and indexing ops: forward vs NumPy, gradcheck (scatter-add for
integer indices), views sharing memory and version counters."""
import numpy as np
import pytest

import nerve
from nerve.testing import check_op, gradcheck


@pytest.mark.parametrize("name, fn, ref, shape", [
    ("reshape", lambda x: x.reshape(7, 3), lambda x: x.reshape(7, 3), (3, 7)),
    ("reshape -1", lambda x: x.reshape(-1), lambda x: x.reshape(-1), (3, 7)),
    ("reshape tuple", lambda x: x.reshape((1, 3, 7)), lambda x: x.reshape(1, 3, 7), (3, 7)),
    ("free reshape", lambda x: nerve.reshape(x, (21,)), lambda x: x.reshape(21), (3, 7)),
    ("view", lambda x: x.contiguous().view(17, 1), lambda x: x.reshape(17, 1), (17,)),
    ("view_as", lambda x: x.contiguous().view_as(nerve.ones(7, 3)), lambda x: x.reshape(7, 3), (3, 7)),
    ("flatten", lambda x: x.flatten(), lambda x: x.reshape(-1), (2, 3, 7)),
    ("flatten 1", lambda x: x.flatten(1), lambda x: x.reshape(2, -1), (2, 3, 7)),
    ("flatten 0,1", lambda x: nerve.flatten(x, 0, 1), lambda x: x.reshape(6, 7), (2, 3, 7)),
    ("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), (2, 3, 7)),
    ("permute tuple", lambda x: nerve.permute(x, (1, 2, 0)), lambda x: x.transpose(1, 2, 0), (2, 3, 7)),
    ("transpose", lambda x: x.transpose(0, -1), lambda x: np.swapaxes(x, 0, -1), (2, 3, 7)),
    ("t", lambda x: x.t(), lambda x: x.T, (3, 7)),
    ("t 1-D", lambda x: x.t(), lambda x: x, (7,)),
    ("T", lambda x: x.T, lambda x: x.T, (2, 3, 7)),
    ("mT", lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), (2, 3, 7)),
    ("squeeze", lambda x: x.squeeze(), lambda x: x.squeeze(), (1, 3, 1, 7)),
    ("squeeze dim", lambda x: x.squeeze(2), lambda x: x.squeeze(2), (1, 3, 1, 7)),
    ("squeeze non-1 dim", lambda x: x.squeeze(1), lambda x: x, (1, 3, 1, 7)),
    ("unsqueeze", lambda x: x.unsqueeze(1), lambda x: x[:, None], (3, 7)),
    ("unsqueeze -1", lambda x: nerve.unsqueeze(x, -1), lambda x: x[..., None], (3, 7)),
    ("expand", lambda x: x.expand(2, 3, 7), lambda x: np.broadcast_to(x, (2, 3, 7)), (3, 1)),
    ("expand -1", lambda x: x.expand(-1, 7), lambda x: np.broadcast_to(x, (3, 7)), (3, 1)),
    ("expand_as", lambda x: x.expand_as(nerve.ones(3, 7)), lambda x: np.broadcast_to(x, (3, 7)), (7,)),
    ("repeat", lambda x: x.repeat(2, 3), lambda x: np.tile(x, (2, 3)), (3, 7)),
    ("repeat more dims", lambda x: x.repeat(2, 1, 1), lambda x: np.tile(x, (2, 1, 1)), (3, 7)),
    ("narrow", lambda x: x.narrow(1, 2, 3), lambda x: x[:, 2:5], (3, 7)),
    ("tril", lambda x: x.tril(), np.tril, (3, 7)),
    ("tril -1", lambda x: nerve.tril(x, -1), lambda x: np.tril(x, -1), (2, 7, 3)),
    ("triu 1", lambda x: x.triu(1), lambda x: np.triu(x, 1), (7, 3)),
    ("triu", lambda x: nerve.triu(x), np.triu, (2, 3, 7)),
    ("contiguous", lambda x: x.T.contiguous(), lambda x: x.T, (3, 7)),
    ("clone", lambda x: x.clone(), lambda x: x, (3, 7)),
])
def test_shape_op(name, fn, ref, shape):
    check_op(fn, ref, [shape])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack(dim):
    shapes = [(3, 7), (3, 7), (3, 7)] if dim != 0 else [(1, 7), (3, 7), (2, 7)]
    check_op(lambda *xs: nerve.cat(xs, dim), lambda *xs: np.concatenate(xs, dim), shapes if dim == 0 else
             [(3, 1), (3, 7), (3, 2)] if dim in (1, -1) else shapes)
    check_op(lambda *xs: nerve.stack(xs, dim), lambda *xs: np.stack(xs, dim), [(3, 7)] * 3)


def test_cat_stack_errors_name_the_op():
    with pytest.raises(ValueError, match=r"cat: tensors must match except in dimension 0, got \(2, 3\) and \(2, 4\)"):
        nerve.cat([nerve.ones(2, 3), nerve.ones(2, 4)])
    with pytest.raises(ValueError, match="stack: expects each tensor to be equal size"):
        nerve.stack([nerve.ones(2, 3), nerve.ones(3, 2)])
    with pytest.raises(ValueError, match="cat: expected a non-empty sequence"):
        nerve.cat([])
    with pytest.raises(ValueError, match=r"cat: zero-dimensional tensor \(at position 1\) cannot be concatenated"):
        nerve.cat([nerve.ones(1), nerve.tensor(2.0)])


@pytest.mark.parametrize("split, dim, sizes", [(2, 1, [2, 2, 2, 1]), ([1, 6], 1, [1, 6]), (3, 0, [3]),
                                                (1, 0, [1, 1, 1])])
def test_split_chunk_unbind(split, dim, sizes):
    x = np.random.default_rng(3).standard_normal((3, 7))
    parts = nerve.tensor(x).split(split, dim)
    assert [p.shape[dim] for p in parts] == sizes
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in parts], dim), x)
    assert gradcheck(lambda t: nerve.cat([p * (i + 1) for i, p in enumerate(nerve.split(t, split, dim))], dim), [x])
    assert gradcheck(lambda t: t.chunk(3, 1)[1] * 2, [x])
    assert gradcheck(lambda t: nerve.stack(t.unbind(1)[::-1], 0), [x])
    assert [c.shape[1] for c in nerve.tensor(x).chunk(3, 1)] == [3, 3, 1]
    with pytest.raises(ValueError, match="split: sections"):
        nerve.tensor(x).split([1, 2], 1)


INDICES = [
    ("int", lambda x: x[1], (3, 7)),
    ("negative int", lambda x: x[-1, 2], (3, 7)),
    ("slice", lambda x: x[1:, ::2], (3, 7)),
    ("slice of 3-D", lambda x: x[1, :2, 3:], (2, 3, 7)),
    ("ellipsis none", lambda x: x[..., None, 3], (2, 3, 7)),
    ("int list with repeats", lambda x: x[[0, 2, 0, 0]], (3, 7)),
    ("int array 2-D", lambda x: x[np.array([[0, 1], [2, 2]])], (3, 7)),
    ("int arrays pair", lambda x: x[np.array([0, 2, 2]), np.array([1, 1, 6])], (3, 7)),
    ("mixed slice and array", lambda x: x[:, [6, 0, 6]], (3, 7)),
    ("bool mask", lambda x: x[np.array([True, False, True])], (3, 7)),
]


@pytest.mark.parametrize("name, index, shape", INDICES)
def test_indexing(name, index, shape):
    def nerve_index(t):
        return index(_Indexer(t))
    check_op(nerve_index, index, [shape])


class _Indexer:
    """Lets one index lambda run on numpy and on nerve (numpy arrays in the index become tensors)."""

    def __init__(self, t):
        self.t = t

    def __getitem__(self, index):
        items = index if isinstance(index, tuple) else (index,)
        items = tuple(nerve.from_numpy(i) if isinstance(i, np.ndarray) else i for i in items)
        return self.t[items if isinstance(index, tuple) else items[0]]


def test_indexing_with_tensors_of_each_integer_dtype():
    x = nerve.arange(12.0).reshape(3, 4)
    for dtype in (nerve.int64, nerve.int32, nerve.int16, nerve.uint8):
        np.testing.assert_array_equal(x[nerve.tensor([2, 0], dtype=dtype)].numpy(), [[8, 9, 10, 11], [0, 1, 2, 3]])
    mask = x > 6
    np.testing.assert_array_equal(x[mask].numpy(), [7, 8, 9, 10, 11])
    assert x[nerve.tensor(1)].tolist() == [4, 5, 6, 7]


def test_boolean_mask_gradient():
    x = np.random.default_rng(4).standard_normal((3, 7))
    m = x > 0
    assert gradcheck(lambda t: t[nerve.from_numpy(m)] * 3, [x])


def test_float_index_is_rejected():
    x = nerve.ones(3)
    with pytest.raises(IndexError, match="__getitem__: tensors used as indices must be integer or bool, got dtype "
                                         "float32"):
        x[nerve.tensor([0.0, 1.0])]


def test_repeated_integer_index_accumulates_gradient():
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 0, 1])


def test_gather():
    idx = np.array([[0, 6, 6], [1, 1, 2], [5, 4, 3]])
    check_op(lambda t: t.gather(1, nerve.from_numpy(idx)), lambda a: np.take_along_axis(a, idx, 1), [(3, 7)])
    idx0 = np.array([[0, 2, 1, 1, 0, 0, 2]])
    check_op(lambda t: nerve.gather(t, 0, nerve.from_numpy(idx0)), lambda a: np.take_along_axis(a, idx0, 0),
             [(3, 7)])


def test_setitem_with_gradients():
    x = np.random.default_rng(6).standard_normal((3, 7))
    v = np.random.default_rng(7).standard_normal((7,))

    def fn(a, b):
        out = a * 1
        out[1] = b * 2
        out[:, 0] = 5.0
        return out
    assert gradcheck(fn, [x, v])

    def fn2(b):
        out = nerve.zeros(3, 7, dtype=nerve.float64)
        out[[0, 2]] = b
        return out
    assert gradcheck(fn2, [v])


def test_setitem_without_grad_bumps_version():
    x = nerve.zeros(3)
    v0 = x._version
    x[1] = 2.0
    assert x.tolist() == [0, 2, 0] and x._version == v0 + 1


def test_views_share_memory_and_version():
    x = nerve.arange(12.0).reshape(3, 4)
    for view in (x[1], x.reshape(12), x.T, x.permute(1, 0), x[:, 1:3], x.view(4, 3), x.narrow(0, 1, 1),
                 x.unsqueeze(0), x.expand(2, 3, 4), x.detach(), x.squeeze()):
        assert np.shares_memory(view.numpy(), x.numpy())
        assert view._version_counter is x._version_counter
    x[1].fill_(7)
    assert x[1].tolist() == [7, 7, 7, 7]


def test_view_of_non_contiguous_raises_only_when_strides_do_not_fit():
    with pytest.raises(RuntimeError, match="view: size \\[12\\] is not compatible"):
        nerve.ones(3, 4).T.view(12)
    assert nerve.ones(3, 4).T.reshape(12).shape == (12,)
    # PyTorch allows these: a column slice split along its last dim, a transpose viewed with a new leading 1
    x = nerve.arange(24.0).reshape(2, 12)
    q = x[:, 4:8]  # row-strided
    v = q.view(2, 2, 2)
    assert np.shares_memory(v.numpy(), x.numpy()) and v.tolist() == q.reshape(2, 2, 2).tolist()
    assert nerve.ones(3, 4).T.view(1, 4, 3).shape == (1, 4, 3)


def test_shape_errors():
    with pytest.raises(ValueError, match="permute: dims"):
        nerve.ones(2, 3).permute(0, 0)
    with pytest.raises(ValueError, match="expand: the number of sizes"):
        nerve.ones(2, 3).expand(3)
    with pytest.raises(ValueError, match="t: expects a tensor with <= 2 dimensions"):
        nerve.ones(2, 3, 4).t()


def test_select():
    x = np.random.default_rng(8).standard_normal((3, 7))
    assert gradcheck(lambda t: t.select(1, 2) * 2, [x])


@pytest.mark.parametrize("call, message", [
    (lambda x: nerve.cat([x, x], 2), r"cat: dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    (lambda x: nerve.stack([x, x], 3), r"stack: dimension out of range \(expected to be in range of \[-3, 2\]"),
    (lambda x: x.unsqueeze(3), "unsqueeze: dimension out of range"),
    (lambda x: x.unsqueeze(-4), "unsqueeze: dimension out of range"),
    (lambda x: x.permute(0, 2), "permute: dimension out of range"),
    (lambda x: x.transpose(0, 2), "transpose: dimension out of range"),
    (lambda x: x.squeeze(2), "squeeze: dimension out of range"),
    (lambda x: x.flatten(0, 2), "flatten: dimension out of range"),
    (lambda x: x.narrow(2, 0, 1), "narrow: dimension out of range"),
    (lambda x: x.split(1, 2), "split: dimension out of range"),
    (lambda x: x.chunk(2, -3), "chunk: dimension out of range"),
    (lambda x: x.unbind(2), "unbind: dimension out of range"),
    (lambda x: x.select(2, 0), "select: dimension out of range"),
    (lambda x: x.softmax(2), "softmax: dimension out of range"),
    (lambda x: x.log_softmax(-3), "log_softmax: dimension out of range"),
    (lambda x: x.narrow(1, 2, 3), "narrow: start 2 and length 3 do not fit dimension 1 of size 4"),
    (lambda x: x.select(0, 3), "select: index 3 is out of range for dimension 0 of size 3"),
])
def test_dimension_errors_name_the_op(call, message):
    with pytest.raises(IndexError, match=message):
        call(nerve.ones(3, 4))


@pytest.mark.parametrize("call, message", [
    (lambda x: x.reshape(5), r"reshape: shape \[5\] is invalid for input of shape \(3, 4\) \(12 elements\)"),
    (lambda x: x.reshape(-1, 5), r"reshape: shape \[-1, 5\] is invalid"),
    (lambda x: x.view(-1, -1), r"reshape: shape \[-1, -1\] is invalid"),
    (lambda x: x.expand(3, 5), r"expand: the size of dim 1 \(4\) must match the new size 5 unless it is 1"),
    (lambda x: x.flatten(1, 0), "flatten: start_dim 1 must not come after end_dim 0"),
    (lambda x: x.chunk(0), "chunk: chunks must be positive, got 0"),
    (lambda x: x.split(0), "split: split_size must be positive, got 0"),
])
def test_shape_value_errors_name_the_op(call, message):
    with pytest.raises(ValueError, match=message):
        call(nerve.ones(3, 4))


def test_narrow_with_negative_start_and_view_as_dtype():
    x = nerve.arange(10.0)
    assert x.narrow(0, -3, 3).tolist() == [7, 8, 9]
    assert x.narrow(0, -3, 2).tolist() == [7, 8]
    f = nerve.tensor([1.0], dtype=nerve.float32)
    assert f.view(nerve.int32).item() == 0x3F800000  # the same bits, as PyTorch's view(dtype)
    assert np.shares_memory(f.view(nerve.int32).numpy(), f.numpy())
