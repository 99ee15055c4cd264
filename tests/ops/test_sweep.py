"""The PyTorch-surface sweep: ops added for ported code (flip, roll, gather/scatter, cumsum/cumprod,
sort/topk, einsum, addmm & co), each forward and gradient against a float64 NumPy reference."""
import numpy as np
import pytest

import nerve
from nerve.testing import check_op, gradcheck

IDX = np.array([[0, 2, 2], [1, 0, 3], [3, 3, 1]])  # (3, 3) into dim 1 of (3, 4), with repeats


def _scatter_ref(x, src, add):
    out = x.copy()
    for i in range(IDX.shape[0]):
        for j in range(IDX.shape[1]):
            if add:
                out[i, IDX[i, j]] += src[i, j]
            else:
                out[i, IDX[i, j]] = src[i, j]
    return out


UNIQUE = np.array([[0, 2, 3], [1, 0, 3], [3, 2, 1]])  # no repeats in a row: scatter's result is defined


@pytest.mark.parametrize("name, fn, ref, shapes", [
    ("flip", lambda x: x.flip(0), lambda x: x[::-1], [(3, 7)]),
    ("flip dims", lambda x: nerve.flip(x, (0, -1)), lambda x: x[::-1, :, ::-1], [(2, 3, 7)]),
    ("roll", lambda x: x.roll(2, 1), lambda x: np.roll(x, 2, 1), [(3, 7)]),
    ("roll dims", lambda x: nerve.roll(x, (1, -3), (0, 2)), lambda x: np.roll(x, (1, -3), (0, 2)), [(2, 3, 7)]),
    ("roll flat", lambda x: x.roll(5), lambda x: np.roll(x, 5), [(3, 7)]),
    ("gather", lambda x: x.gather(1, nerve.tensor(IDX)), lambda x: np.take_along_axis(x, IDX, 1), [(3, 4)]),
    ("gather dim 0", lambda x: nerve.gather(x, 0, nerve.tensor(IDX[:, :2] % 3)),
     lambda x: x[IDX[:, :2] % 3, np.arange(2)], [(3, 4)]),
    ("scatter_add", lambda x, s: x.scatter_add(1, nerve.tensor(IDX), s), lambda x, s: _scatter_ref(x, s, True),
     [(3, 4), (3, 3)]),
    ("scatter_add src larger", lambda x, s: nerve.scatter_add(x, 1, nerve.tensor(IDX), s),
     lambda x, s: _scatter_ref(x, s[:, :3], True), [(3, 4), (3, 5)]),
    ("cumsum", lambda x: x.cumsum(1), lambda x: np.cumsum(x, 1), [(3, 7)]),
    ("cumsum dim 0", lambda x: nerve.cumsum(x, 0), lambda x: np.cumsum(x, 0), [(17, 3)]),
    ("cumprod", lambda x: x.cumprod(-1), lambda x: np.cumprod(x, -1), [(3, 7)]),
    ("sort values", lambda x: x.sort(1).values, lambda x: np.sort(x, 1), [(3, 7)]),
    ("sort descending", lambda x: nerve.sort(x, 0, descending=True)[0], lambda x: -np.sort(-x, 0), [(7, 3)]),
    ("topk", lambda x: x.topk(3).values, lambda x: -np.sort(-x, -1)[:, :3], [(3, 7)]),
    ("topk smallest", lambda x: nerve.topk(x, 2, dim=0, largest=False)[0], lambda x: np.sort(x, 0)[:2], [(7, 3)]),
    ("einsum bmm", lambda a, b: nerve.einsum("bij,bjk->bik", a, b), lambda a, b: a @ b, [(2, 3, 4), (2, 4, 5)]),
    ("einsum implicit", lambda a, b: nerve.einsum("ij,jk", a, b), lambda a, b: a @ b, [(3, 4), (4, 5)]),
    ("einsum ellipsis", lambda a, b: nerve.einsum("...ij,...jk->...ik", [a, b]), lambda a, b: a @ b,
     [(2, 3, 4), (2, 4, 5)]),
    ("einsum sum-only letter", lambda a, b: nerve.einsum("ij,k->i", a, b),
     lambda a, b: a.sum(1) * b.sum(), [(3, 4), (5,)]),
    ("einsum outer", lambda a, b: nerve.einsum("i,j->ij", a, b), np.outer, [(3,), (4,)]),
    ("einsum attention", lambda q, k: nerve.einsum("bhqd,bhkd->bhqk", q, k),
     lambda q, k: q @ np.swapaxes(k, -1, -2), [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("addmm", lambda c, a, b: c.addmm(a, b, beta=0.5, alpha=2), lambda c, a, b: 0.5 * c + 2 * (a @ b),
     [(3, 5), (3, 4), (4, 5)]),
    ("baddbmm", lambda c, a, b: nerve.baddbmm(c, a, b, alpha=0.3), lambda c, a, b: c + 0.3 * (a @ b),
     [(2, 3, 5), (2, 3, 4), (2, 4, 5)]),
    ("addcmul", lambda x, a, b: x.addcmul(a, b, value=0.5), lambda x, a, b: x + 0.5 * a * b, [(3, 4)] * 3),
    ("lerp", lambda x, e: x.lerp(e, 0.3), lambda x, e: x + 0.3 * (e - x), [(3, 4), (3, 4)]),
    ("tile", lambda x: x.tile((2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), [(3, 4)]),
    ("repeat_interleave", lambda x: x.repeat_interleave(2, dim=1), lambda x: np.repeat(x, 2, 1), [(3, 4)]),
    ("index_select", lambda x: x.index_select(1, nerve.tensor([3, 0, 0])), lambda x: x[:, [3, 0, 0]], [(3, 4)]),
    ("masked_select", lambda x: x.masked_select(nerve.tensor([True, False, True, True])),
     lambda x: x[:, [0, 2, 3]].reshape(-1), [(3, 4)]),
    ("diagonal", lambda x: x.diagonal(1), lambda x: np.diagonal(x, 1), [(4, 5)]),
    ("diagonal batched", lambda x: x.diagonal(0, -2, -1), lambda x: np.diagonal(x, 0, -2, -1), [(2, 4, 3)]),
    ("diag vector", lambda x: nerve.diag(x, -1), lambda x: np.diag(x, -1), [(4,)]),
    ("trace", lambda x: x.trace(), np.trace, [(4, 4)]),
    ("outer", lambda a, b: nerve.outer(a, b), np.outer, [(3,), (5,)]),
    ("mv", lambda a, b: a.mv(b), lambda a, b: a @ b, [(3, 5), (5,)]),
    ("movedim", lambda x: x.movedim(0, -1), lambda x: np.moveaxis(x, 0, -1), [(2, 3, 4)]),
    ("nan_to_num", lambda x: (x.log()).nan_to_num(nan=0.5), lambda x: np.where(x > 0, np.log(np.abs(x)), 0.5),
     [(3, 4)]),
    ("tril batched", lambda x: x.tril(1), lambda x: np.tril(x, 1), [(2, 4, 5)]),
    ("triu batched", lambda x: nerve.triu(x, -1), lambda x: np.triu(x, -1), [(2, 4, 5)]),
    ("cdist", lambda a, b: nerve.cdist(a, b), lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)),
     [(3, 4), (5, 4)]),
    ("logsumexp", lambda x: x.logsumexp(1), lambda x: np.log(np.exp(x).sum(1)), [(3, 7)]),
    ("std correction", lambda x: x.std(0, correction=0), lambda x: x.std(0), [(7, 3)]),
    ("var unbiased", lambda x: nerve.var(x, 1, unbiased=True), lambda x: x.var(1, ddof=1), [(3, 7)]),
])
def test_op_matches_numpy_with_gradient(name, fn, ref, shapes):
    check_op(fn, ref, shapes)


def test_scatter_overwrites_and_routes_gradients():
    check_op(lambda x, s: x.scatter(1, nerve.tensor(UNIQUE), s), lambda x, s: _scatter_ref_unique(x, s),
             [(3, 4), (3, 3)])
    out = nerve.zeros(2, 3).scatter(1, nerve.tensor([[2], [0]]), 7.0)
    assert out.tolist() == [[0, 0, 7], [7, 0, 0]]
    x = nerve.zeros(2, 3)
    assert x.scatter_(0, nerve.tensor([[1, 0, 1]]), nerve.ones(1, 3)) is x and x.tolist() == [[0, 1, 0], [1, 0, 1]]


def _scatter_ref_unique(x, s):
    out = x.copy()
    np.put_along_axis(out, UNIQUE, s, 1)
    return out


def test_cumprod_gradient_with_zeros():
    x = np.array([[2.0, 0.0, 3.0, 0.5], [1.5, -1.0, 0.0, 0.0], [0.7, 1.1, 1.3, 0.9]])
    assert gradcheck(lambda t: t.cumprod(1), [x])


def test_sort_topk_argsort_indices():
    x = nerve.tensor([[3.0, 1.0, 2.0, 1.0], [0.0, -1.0, 5.0, 4.0]])
    values, indices = x.sort(dim=1)
    assert values.tolist() == [[1, 1, 2, 3], [-1, 0, 4, 5]] and indices.tolist() == [[1, 3, 2, 0], [1, 0, 3, 2]]
    assert x.argsort(1, descending=True).tolist() == [[0, 2, 1, 3], [2, 3, 0, 1]]
    top = x.topk(2, dim=1)
    assert top.values.tolist() == [[3, 2], [5, 4]] and top.indices.tolist() == [[0, 2], [2, 3]]
    assert nerve.tensor([3, 1, 2], dtype=nerve.uint8).argsort(descending=True).tolist() == [0, 2, 1]
    with pytest.raises(IndexError, match="topk"):
        x.topk(5)


def test_einsum_diagonal_forward_and_errors():
    assert nerve.einsum("ii->i", nerve.eye(3) * 2).tolist() == [2, 2, 2]
    with pytest.raises(RuntimeError, match="einsum"):
        nerve.einsum("ij,jk->ik", nerve.ones(2, 3))
    with pytest.raises(NotImplementedError, match="repeated subscript"):
        nerve.einsum("ii->i", nerve.ones(3, 3, requires_grad=True)).sum().backward()


def test_multinomial_with_generator_is_reproducible_and_respects_probabilities():
    probs = nerve.tensor([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]])
    g = nerve.Generator().manual_seed(7)
    a = nerve.multinomial(probs, 2, generator=g)
    b = nerve.multinomial(probs, 2, generator=nerve.Generator().manual_seed(7))
    assert a.dtype == nerve.int64 and a.shape == (2, 2) and a.equal(b)
    assert a[0, 0].item() == 1 and len(set(a[1].tolist())) == 2  # no replacement: distinct
    draws = nerve.tensor([0.1, 0.9]).multinomial(4000, replacement=True, generator=g)
    assert 0.87 < draws.float().mean().item() < 0.93
    with pytest.raises(RuntimeError, match="without replacement"):
        probs.multinomial(4)


def test_where_forms_and_masked_fill():
    x = nerve.tensor([[1.0, -2.0], [-3.0, 4.0]])
    rows, cols = nerve.where(x > 0)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]
    assert nerve.where(x > 0, x, 0.0).tolist() == [[1, 0], [0, 4]]
    assert x.where(x < 0, -1.0).tolist() == [[-1, -2], [-3, -1]]
    mask = nerve.ones(2, 2).tril() == 0
    assert x.masked_fill(mask, float("-inf"))[0, 1].item() == float("-inf")
    y = x.clone()
    assert y.masked_fill_(mask, 0.0) is y and y.tolist() == [[1, 0], [-3, 4]]
    assert x.nonzero().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_in_place_ops_with_alpha_and_fills():
    x = nerve.ones(3)
    x.add_(nerve.ones(3), alpha=2).sub_(1, alpha=0.5).mul_(2).div_(5)
    assert np.allclose(x.tolist(), [1.0] * 3)
    x.clamp_(max=0.5).exp_().log_()
    assert np.allclose(x.tolist(), [0.5] * 3)
    x.addcmul_(nerve.ones(3), nerve.full((3,), 2.0), value=0.25).lerp_(nerve.zeros(3), 0.5)
    assert np.allclose(x.tolist(), [0.5] * 3)
    assert x.zero_().tolist() == [0, 0, 0] and x.fill_(3).tolist() == [3, 3, 3]
    g = nerve.Generator().manual_seed(1)
    a, b = nerve.empty(5).normal_(generator=g), nerve.empty(5).normal_(generator=nerve.Generator().manual_seed(1))
    assert a.equal(b) and nerve.empty(100).uniform_(2, 3).min().item() >= 2


def test_shape_and_dtype_queries():
    x = nerve.zeros(2, 3, 4)
    assert x.nelement() == nerve.numel(x) == 24 and x.ndimension() == x.dim() == 3 and x.size(-1) == 4
    assert x.is_cpu and not x.is_cuda and not x.is_mps and not x.is_xpu
    assert x[1].storage_offset() == 12 and x.stride() == (12, 4, 1) and x.transpose(0, 1).is_contiguous() is False
    assert x.long().type_as(x).dtype == nerve.float32 and x.half().dtype == nerve.float16
    assert x.int().dtype == nerve.int32 and x.bool().dtype == nerve.bool and x.double().dtype == nerve.double
    assert [t.shape for t in x.chunk(2, dim=2)] == [(2, 3, 2), (2, 3, 2)]
    assert [t.shape[1] for t in x.split([1, 2], dim=1)] == [1, 2] and len(x.unbind(1)) == 3
    assert x.unsqueeze(0).squeeze((0, 1)).shape == (2, 3, 4) and x.unsqueeze(-1).squeeze(-1).shape == (2, 3, 4)
    assert nerve.zeros(1, 3, 1).squeeze((0, 2)).shape == (3,)
    assert x.new_full((2,), 7).tolist() == [7, 7] and x.new_tensor([1, 2]).dtype == nerve.float32
    assert nerve.randint_like(x, 5).shape == x.shape and nerve.full_like(x, 2).dtype == x.dtype
    assert x.isinf().any().item() is False and nerve.isinf(nerve.tensor([float("inf")])).all().item() is True
    assert nerve.tensor([[1, 0], [1, 1]]).all(dim=1).tolist() == [False, True]
    assert [list(r) for r in nerve.arange(6).reshape(2, 3)] == [[0, 1, 2], [3, 4, 5]]


def test_meshgrid_and_small_linear_algebra():
    a, b = nerve.meshgrid(nerve.arange(3), nerve.arange(2), indexing="ij")
    xa, xb = np.meshgrid(np.arange(3), np.arange(2), indexing="ij")
    assert a.tolist() == xa.tolist() and b.tolist() == xb.tolist()
    a, b = nerve.meshgrid(nerve.arange(3), nerve.arange(2), indexing="xy")
    xa, xb = np.meshgrid(np.arange(3), np.arange(2), indexing="xy")
    assert a.tolist() == xa.tolist() and b.tolist() == xb.tolist()
    assert nerve.block_diag(nerve.ones(1, 2), nerve.ones(2, 1)).tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 1]]
