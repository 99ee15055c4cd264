"""The autograd engine: graph recording, topological backward, accumulation,
retain_graph, no_grad, detach, version counters, error messages, and
property tests of broadcasting gradients."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nerve
from nerve.autograd import Function
from nerve.testing import check_op, gradcheck


def test_gradients_accumulate_across_backward_calls_and_uses():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5, 7])
    y = x * 2
    (y + y * y).sum().backward()  # y used twice: both paths add up
    np.testing.assert_allclose(x.grad.numpy(), [5 + 2 + 8 * 1, 7 + 2 + 8 * 2])


def test_diamond_graph_runs_each_node_once():
    calls = []

    class Count(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            return g

    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    h = Count.apply(x)
    a, b = h * 2, h * 3
    (a + b).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(x.grad.numpy(), [5, 5])


def test_graph_is_freed_unless_retained():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match="mul: trying to backward through the graph a second time"):
        y.backward()


def test_backward_with_explicit_gradient():
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(nerve.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 0, 12])
    with pytest.raises(RuntimeError, match=r"backward: gradient has shape \(2,\), expected \(3,\)"):
        (x * x).backward(nerve.ones(2))


def test_backward_errors_name_what_was_expected():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"backward: grad can be implicitly created only for scalar outputs, got "
                                           r"shape \(2,\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="backward: the tensor does not require grad"):
        nerve.ones(2).sum().backward()


def test_leaf_backward_and_non_leaf_grad():
    x = nerve.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1
    y = x * 3
    y.retain_grad()
    (y * y).backward()
    assert y.grad.item() == 12 and x.grad.item() == 1 + 36
    assert x.is_leaf and not y.is_leaf


def test_no_grad_enable_grad_and_set_grad_enabled():
    x = nerve.ones(2, requires_grad=True)
    with nerve.no_grad():
        y = x * 2
        assert not nerve.is_grad_enabled()
        with nerve.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad
    assert nerve.is_grad_enabled()

    @nerve.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad

    @nerve.no_grad
    def g(t):
        return t * 2
    assert not g(x).requires_grad and g.__name__ == "g"
    with nerve.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert nerve.is_grad_enabled()


def test_detach_shares_data_and_cuts_graph():
    x = nerve.ones(3, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and np.shares_memory(d.numpy(), y.data)
    (y * d).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 4, 4])  # d is a constant
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad


def test_requires_grad_rules():
    x = nerve.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="requires_grad: cannot turn it off on a non-leaf"):
        y.requires_grad = False
    assert not (nerve.ones(2) * 2).requires_grad


def test_inplace_change_of_saved_tensor_raises_naming_the_op():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y.log()
    y.add_(1)
    with pytest.raises(RuntimeError, match=r"log: a tensor saved for backward was modified by an in-place "
                                           r"operation \(version 1, expected 0\)"):
        z.sum().backward()


def test_inplace_change_through_a_view_is_seen():
    x = nerve.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1
    z = y.T * y.T  # saves a view of y
    y[0].detach().fill_(0)  # through a detached view: the same version counter
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises_outside_no_grad():
    w = nerve.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="add_: a leaf tensor that requires grad is being changed in place"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="fill_: a leaf tensor"):
        w.fill_(0)
    with nerve.no_grad():
        w.add_(1)
        w.mul_(2)
    assert w.tolist() == [4, 4] and w.is_leaf


def test_inplace_ops_keep_correct_gradients():
    def fn(a, b):
        y = a * 1
        y.mul_(b)       # Mul saves y's old value: the write-back must not clobber it
        y.add_(b, alpha=2)
        y.sub_(a)
        y.div_(b.abs() + 1)
        y.pow_(2)
        y.clamp_(-5, 5)
        return y
    rng = np.random.default_rng(0)
    assert gradcheck(fn, [rng.standard_normal(7), rng.standard_normal(7)])

    def copy_into(b):
        buf = nerve.zeros(3, 7, dtype=nerve.float64)
        buf.copy_(b * 2)
        return buf
    assert gradcheck(copy_into, [rng.standard_normal(7)])

    def masked(a):
        y = a * 1
        y.masked_fill_(a > 0, 0.5)
        return y.relu_()
    assert gradcheck(masked, [rng.standard_normal((3, 7))])


def test_augmented_assignment_is_in_place():
    w = nerve.ones(3, requires_grad=True)
    g = nerve.full((3,), 0.5)
    with nerve.no_grad():
        same = w
        w -= g * 2  # an optimizer step must update the Parameter object itself
        w += 0.25
        w *= 4
        w /= 2
    assert w is same and w.tolist() == [0.5, 0.5, 0.5] and w.is_leaf and w.requires_grad
    with pytest.raises(RuntimeError, match="add_: a leaf tensor that requires grad"):
        w += 1
    y = w * 1
    y += w  # non-leaf: recorded like add_
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2, 2, 2])
    i = nerve.tensor([1, 2])
    i += 1
    assert i.tolist() == [2, 3]
    with pytest.raises(TypeError, match="div_: result type float32 can't be cast"):
        i /= 2


def test_inplace_on_a_slice_in_the_graph_rebases_the_base():
    rng = np.random.default_rng(1)

    def fn(a, b):
        y = a * 1
        y[0].mul_(b[0])           # the base sees the change, in values and in gradients
        y[:, 1:3] += b[1:3] * 2   # augmented assignment on a slice
        row = y[1]
        row.add_(b)
        return y * row            # the view's own history follows the base
    assert gradcheck(fn, [rng.standard_normal((3, 7)), rng.standard_normal(7)])

    def into_buffer(a):
        buf = nerve.zeros(2, 7, dtype=nerve.float64)
        buf[1].copy_(a * 3)
        buf[0][2:4].copy_(a[:2])  # a slice of a slice
        return buf
    assert gradcheck(into_buffer, [rng.standard_normal(7)])


def test_inplace_on_other_views_in_the_graph_raises():
    x = nerve.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="mul_: in-place change of a reshaped, permuted, expanded or detached view"):
        y.T.mul_(3)
    with pytest.raises(RuntimeError, match="__setitem__: a leaf tensor that requires grad"):
        x[0].mul_(3)  # a slice of a leaf: the leaf itself would change
    buf = nerve.zeros(2, 3)
    buf[0].copy_(x[0].detach())  # no autograd involved: fine
    assert buf[0].tolist() == [1, 1, 1]


def test_integer_index_of_1d_is_a_view():
    x = nerve.arange(3.0)
    x[1].fill_(5)
    x[-1].add_(1)
    assert x.tolist() == [0, 5, 3]


def test_deep_graph_has_no_recursion_limit():
    x = nerve.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 3000], rtol=1e-4)


def test_gradient_of_a_float32_leaf_is_float32():
    x = nerve.ones(3, requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == nerve.float32


def test_int_branches_do_not_break_backward():
    x = nerve.tensor([0.2, 1.7, 2.9], requires_grad=True)
    idx = x.long()
    assert not idx.requires_grad and idx.tolist() == [0, 1, 2]
    (x * x.argmax()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_gradcheck_catches_a_wrong_backward():
    class BadSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x * 2.01

    with pytest.raises(AssertionError, match=r"gradcheck: input 0 of shape \(3,\)"):
        gradcheck(lambda t: BadSquare.apply(t), [np.array([1.0, 2.0, 3.0])])
    assert not gradcheck(lambda t: BadSquare.apply(t), [np.array([1.0])], raise_exception=False)
    with pytest.raises(AssertionError, match="check_op: float64 forward differs"):
        check_op(lambda t: t.exp(), lambda a: np.exp(a) * (1 + 1e-6), [(3,)])
    with pytest.raises(AssertionError, match="check_op: float32 inputs gave a float64 output"):
        check_op(lambda t: t.double(), lambda a: a, [(3,)])


# ------------------------------------------------------------ property tests
_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@st.composite
def _broadcastable_pair(draw):
    shape = draw(_shapes)
    other = list(shape[len(shape) - draw(st.integers(0, len(shape))):])
    other = [1 if draw(st.booleans()) else n for n in other]
    return (shape, tuple(other)) if draw(st.booleans()) else (tuple(other), shape)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(_broadcastable_pair(), st.sampled_from(["add", "sub", "mul", "div", "where"]))
def test_broadcast_gradients_sum_back_to_input_shape(shapes, op):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, shapes[0]), rng.uniform(0.5, 2, shapes[1])
    cond = np.asarray(rng.random(np.broadcast_shapes(*shapes)) > 0.5)
    fns = {"add": (lambda x, y: x + y, np.add), "sub": (lambda x, y: x - y, np.subtract),
           "mul": (lambda x, y: x * y, np.multiply), "div": (lambda x, y: x / y, np.divide),
           "where": (lambda x, y: nerve.where(nerve.from_numpy(cond), x, y), lambda x, y: np.where(cond, x, y))}
    fn, ref = fns[op]
    ta, tb = nerve.tensor(a, requires_grad=True), nerve.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    np.testing.assert_allclose(out.detach().numpy(), ref(a, b), rtol=1e-12)
    out.sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    assert gradcheck(fn, [a, b])


@settings(max_examples=10, deadline=None, derandomize=True)
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.data())
def test_reduce_over_random_dims(shape, data):
    dims = data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
    keepdim = data.draw(st.booleans())
    check_op(lambda x: x.sum(dims, keepdim) + x.mean(dims, keepdim) * x.amax(dims, keepdim),
             lambda x: x.sum(tuple(dims), keepdims=keepdim) + x.mean(tuple(dims), keepdims=keepdim)
             * x.max(tuple(dims), keepdims=keepdim), [shape])


@settings(max_examples=10, deadline=None, derandomize=True)
@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), st.randoms(use_true_random=False))
def test_permute_reshape_round_trip(shape, random):
    perm = list(range(len(shape)))
    random.shuffle(perm)
    check_op(lambda x: x.permute(*perm).reshape(-1) * 2, lambda x: x.transpose(perm).reshape(-1) * 2, [shape])


def test_inf_and_nan_follow_ieee_without_warnings():
    # pytest turns warnings into errors here, so a NumPy RuntimeWarning would fail this test.
    x = nerve.tensor([0.0, -1.0, 1.0], requires_grad=True)
    y = x.log()
    assert y[0].item() == -np.inf and np.isnan(y[1].item())
    (y * 1).sum().backward()
    assert x.grad[0].item() == np.inf
    assert np.isnan(nerve.zeros(0).mean().item())
    assert np.isnan(nerve.zeros(0, 3).mean(0)).all().item()
    assert (nerve.tensor([1.0]) / 0).item() == np.inf
    assert np.isinf(nerve.tensor([1000.0]).exp()).all().item()


def test_backward_signature_matches_pytorch():
    x = nerve.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward(None, retain_graph=True, create_graph=False)
    y.backward(retain_graph=None)
    np.testing.assert_array_equal(x.grad.numpy(), [4, 4])
    with pytest.raises(NotImplementedError, match="backward: create_graph=True"):
        (x * x).sum().backward(create_graph=True)


def test_a_backward_returning_a_wrong_shape_is_named():
    class BadSum(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum(axis=0)

        @staticmethod
        def backward(ctx, g):
            return g  # forgot to broadcast back to x's shape

    class TooFew(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    x = nerve.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"badsum: backward returned a gradient of shape \(3,\) for argument 0, "
                                           r"expected \(2, 3\)"):
        (BadSum.apply(x) * 2).sum().backward()
    with pytest.raises(RuntimeError, match=r"toofew: backward returned 1 gradients, expected one per forward "
                                           r"argument \(2\)"):
        TooFew.apply(x, x).sum().backward()


def test_gradients_keep_each_tensors_dtype_through_mixed_ops():
    seen = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            seen.append(g.dtype)
            return g

    x = nerve.ones(3, requires_grad=True)
    h = Spy.apply(x)
    (h * nerve.ones(3, dtype=nerve.float64)).sum().backward()  # the product is float64
    assert seen == [np.dtype(np.float32)] and x.grad.dtype == nerve.float32


class _SplitWithArgmax(Function):
    """Several outputs: (x[:k] * 2, x[k:] * 3, argmax index); backward records what it received."""
    received = []

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x[:k] * 2, x[k:] * 3, np.asarray(x.argmax())

    @staticmethod
    def backward(ctx, g_head, g_tail, g_index):
        _SplitWithArgmax.received.append((g_head.copy(), g_tail.copy(), g_index))
        return np.concatenate([g_head * 2, g_tail * 3]), None


def test_a_function_returns_several_outputs_each_with_its_own_gradient():
    x = nerve.tensor([1.0, 5.0, 2.0, 4.0], requires_grad=True)
    head, tail, index = _SplitWithArgmax.apply(x, 1)
    assert head.requires_grad and tail.requires_grad and not index.requires_grad and index.item() == 1
    assert (head.output_nr, tail.output_nr) == (0, 1) and head.grad_fn is tail.grad_fn
    _SplitWithArgmax.received.clear()
    tail.retain_grad()
    (head.sum() + (tail * tail).sum()).backward()
    (g_head, g_tail, g_index), = _SplitWithArgmax.received  # one call, with both gradients summed in
    np.testing.assert_allclose(g_head, [1])
    np.testing.assert_allclose(g_tail, [30, 12, 24])
    assert g_index is None  # a non-float output carries no gradient
    np.testing.assert_allclose(tail.grad.numpy(), [30, 12, 24])
    np.testing.assert_allclose(x.grad.numpy(), [2, 90, 36, 72])


def test_an_output_that_gets_no_gradient_gets_zeros():
    x = nerve.tensor([1.0, 5.0, 2.0], requires_grad=True)
    _SplitWithArgmax.received.clear()
    _SplitWithArgmax.apply(x, 2)[1].sum().backward()
    (g_head, g_tail, _), = _SplitWithArgmax.received
    np.testing.assert_array_equal(g_head, [0, 0])
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, 3])
