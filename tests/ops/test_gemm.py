"""matmul / mm / bmm / dot: PyTorch's 1-D, 2-D and batched rules with
broadcasting, zero sizes, integer fallback, the native GEMM reached without
copies for transposed operands, and every ISA variant."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nerve
from nerve import _C
from nerve.backend import cpu
from nerve.testing import check_op, gradcheck

SHAPES = [
    ((7,), (7,)),                 # dot
    ((3, 7), (7,)),               # matrix @ vector
    ((7,), (7, 3)),               # vector @ matrix
    ((1, 1), (1, 1)),
    ((3, 7), (7, 17)),
    ((17, 1), (1, 3)),
    ((2, 3, 7), (7, 3)),          # batch @ shared matrix
    ((3, 7), (2, 7, 3)),          # shared matrix @ batch
    ((2, 3, 7), (2, 7, 1)),       # bmm
    ((2, 1, 3, 7), (3, 7, 2)),    # broadcast batch dims
    ((2, 3, 7), (7,)),            # batch @ vector
    ((7,), (2, 7, 3)),            # vector @ batch
    ((1, 3, 7), (2, 7, 3)),       # size-1 batch broadcast
]


@pytest.mark.parametrize("sa, sb", SHAPES)
def test_matmul(sa, sb, isa):
    check_op(lambda a, b: a @ b, np.matmul, [sa, sb])


@pytest.mark.parametrize("sa, sb", SHAPES)
def test_matmul_on_device(sa, sb, device):
    check_op(lambda a, b: a @ b, np.matmul, [sa, sb], device=device)


@pytest.mark.parametrize("sa, sb", [((3, 7), (7, 17)), ((2, 3, 7), (2, 7, 3))])
def test_matmul_transposed_operands(sa, sb):
    # Operands that are transposes of contiguous arrays (the GEMM's other layout).
    check_op(lambda a, b: a.mT @ b.mT, lambda a, b: np.swapaxes(a, -1, -2) @ np.swapaxes(b, -1, -2),
             [sa[:-2] + sa[:-3:-1], sb[:-2] + sb[:-3:-1]])


def test_mm_bmm_dot_and_free_functions():
    check_op(lambda a, b: a.mm(b), np.matmul, [(3, 7), (7, 3)])
    check_op(lambda a, b: nerve.mm(a, b), np.matmul, [(3, 7), (7, 3)], grad=False)
    check_op(lambda a, b: a.bmm(b), np.matmul, [(2, 3, 7), (2, 7, 3)])
    check_op(lambda a, b: nerve.bmm(a, b), np.matmul, [(2, 3, 7), (2, 7, 3)], grad=False)
    check_op(lambda a, b: nerve.dot(a, b), np.dot, [(17,), (17,)])
    check_op(lambda a, b: nerve.matmul(a, b), np.matmul, [(3, 7), (7,)])
    check_op(lambda a: a @ a.T, lambda a: a @ a.T, [(3, 7)])  # one input used twice
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal((x @ nerve.ones(3, 2, dtype=nerve.float64)).numpy(), x @ np.ones((3, 2)))


@pytest.mark.parametrize("sa, sb, out", [((0, 3), (3, 4), (0, 4)), ((2, 0), (0, 4), (2, 4)), ((3, 4), (4, 0), (3, 0)),
                                         ((0, 2, 3), (3, 4), (0, 2, 4)), ((0,), (0,), ())])
def test_zero_size(sa, sb, out):
    a = nerve.zeros(*sa, requires_grad=True)
    b = nerve.ones(*sb, requires_grad=True)
    c = a @ b
    assert c.shape == out and c.dtype == nerve.float32
    assert not c.detach().numpy().any()
    c.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    assert not b.grad.numpy().any()


def test_integer_matmul_falls_back_to_numpy():
    a = np.arange(12).reshape(3, 4)
    b = np.arange(8).reshape(4, 2)
    c = nerve.tensor(a) @ nerve.tensor(b)
    assert c.dtype == nerve.int64
    np.testing.assert_array_equal(c.numpy(), a @ b)
    np.testing.assert_array_equal((nerve.tensor(a) @ nerve.tensor(a[0])).numpy(), a @ a[0])


def test_transposed_and_strided_operands_reach_gemm_without_copies(monkeypatch):
    calls = []
    real = _C.gemm

    def spy(out, a, b, *args):
        calls.append((a, b))
        return real(out, a, b, *args)
    monkeypatch.setattr(cpu._C, "gemm", spy)
    base_a = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    base_b = np.random.default_rng(1).standard_normal((9, 17)).astype(np.float32)
    a, b = nerve.from_numpy(base_a).T, nerve.from_numpy(base_b)[:7, ::1]  # (3, 7) transposed, (7, 17) row-strided
    np.testing.assert_allclose((a @ b).numpy(), base_a.T @ base_b[:7], rtol=1e-5, atol=1e-5)
    (pa, pb), = calls
    assert np.shares_memory(pa, base_a) and np.shares_memory(pb, base_b)
    calls.clear()
    batch = np.random.default_rng(2).standard_normal((2, 7, 3)).astype(np.float32)
    out = nerve.from_numpy(batch).mT @ nerve.from_numpy(base_a)  # (2, 3, 7) @ (7, 3)
    np.testing.assert_allclose(out.numpy(), np.swapaxes(batch, 1, 2) @ base_a, rtol=1e-5, atol=1e-5)
    (pa, pb), = calls
    assert np.shares_memory(pa, batch) and np.shares_memory(pb, base_a)


def test_matmul_gradients_with_transposed_and_broadcast_inputs():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((7, 3)), rng.standard_normal((2, 1, 7, 5))
    assert gradcheck(lambda x, y: x.T @ y, [a, b])
    assert gradcheck(lambda x, y: (x.T @ y).relu().sum(-1), [a, b])


def test_matmul_errors_name_the_op():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) cannot be multiplied \(a's last "
                                         r"dim 3 != b's second-to-last dim 2\)"):
        nerve.ones(2, 3) @ nerve.ones(2, 3)
    with pytest.raises(ValueError, match="matmul: shapes .* b's first dim 4"):
        nerve.ones(2, 3) @ nerve.ones(4)
    with pytest.raises(ValueError, match="matmul: batch dimensions"):
        nerve.ones(2, 3, 4) @ nerve.ones(3, 4, 5)
    with pytest.raises(ValueError, match="matmul: both arguments need at least 1 dimension"):
        nerve.tensor(2.0) @ nerve.ones(3)
    with pytest.raises(TypeError, match="matmul: expected both arguments to have the same dtype, got float32 and "
                                        "float64"):
        nerve.ones(2, 3) @ nerve.ones(3, 2, dtype=nerve.float64)
    with pytest.raises(ValueError, match="mm: expected 2-D tensors, got 3-D and 2-D"):
        nerve.ones(2, 2, 3).mm(nerve.ones(3, 2))
    with pytest.raises(ValueError, match="bmm: expected 3-D tensors"):
        nerve.ones(2, 3).bmm(nerve.ones(3, 2))


@pytest.mark.parametrize("sa, sb", [((33, 17), (17, 33)), ((72, 73), (73, 74)), ((3, 33, 7), (7, 73)),
                                    ((2, 17, 33), (2, 33, 1)), ((73, 72), (72,))])
def test_matmul_larger_odd_sizes_forward(sa, sb, isa):
    check_op(lambda a, b: a @ b, np.matmul, [sa, sb], grad=False)
    if len(sb) > 1:  # the same product from transposed storage
        check_op(lambda a, b: a.mT @ b.mT, lambda a, b: np.swapaxes(a, -1, -2) @ np.swapaxes(b, -1, -2),
                 [sa[:-2] + sa[:-3:-1], sb[:-2] + sb[:-3:-1]], grad=False)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
       st.lists(st.sampled_from([1, 2]), max_size=2), st.lists(st.sampled_from([1, 2]), max_size=2),
       st.booleans(), st.booleans())
def test_matmul_broadcasting_property(m, k, n, batch_a, batch_b, vec_a, vec_b):
    sa = (k,) if vec_a else (*batch_a, m, k)
    sb = (k,) if vec_b else (*batch_b, k, n)
    check_op(lambda a, b: a @ b, np.matmul, [sa, sb])


def test_batched_matmul_with_an_empty_matrix_dim():
    a = nerve.randn(2, 3, 0, 4, requires_grad=True)
    b = nerve.randn(2, 1, 4, 5, requires_grad=True)
    out = a @ b
    assert tuple(out.shape) == (2, 3, 0, 5)
    out.sum().backward()
    assert tuple(a.grad.shape) == (2, 3, 0, 4)
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros((2, 1, 4, 5), np.float32))
