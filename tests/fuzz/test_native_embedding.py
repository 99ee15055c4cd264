"""Valid-call fuzzing of the embedding family of ``nerve._C`` (see
test_native.py): embedding_forward (a gather: bit-exact, NaN included) and
embedding_backward (a scatter-add with repeated indices and padding_idx).

The backward sums must be exact and deterministic: with dyadic gradients
(small multiples of 1/8) every summation order is exact, so the result must
equal the float64 reference bit for bit; with arbitrary gradients (NaN/Inf
too) it must equal NumPy's in-order accumulation in the array's own dtype
(np.add.at), and a rerun on one thread must reproduce it bit for bit.
Hostile calls are covered by test_native_recorded.py.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerve import _C

from .test_native import FLOATS, FUZZ, Call, arrays, run_valid, sizes


def _indices(draw, num):
    n = draw(sizes(30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    hi = draw(st.sampled_from([1, 2, num]))  # few distinct rows: many repeats
    return rng.integers(0, min(hi, num), n).astype(np.int64)


def build_embedding_forward(draw):
    dtype = draw(st.sampled_from(FLOATS))
    num, dim = draw(st.integers(1, 10)), draw(sizes(17))
    weight = arrays(draw, (num, dim), dtype)
    idx = _indices(draw, num)
    out = np.full((idx.size, dim), np.nan, dtype)
    return Call("embedding_forward", _C.embedding_forward, {"out": out, "weight": weight, "indices": idx}, ["out"],
                lambda: np.testing.assert_array_equal(out, weight[idx]))


def build_embedding_backward(draw):
    dtype = draw(st.sampled_from(FLOATS))
    num, dim = draw(st.integers(1, 10)), draw(sizes(17))
    idx = _indices(draw, num)
    padding_idx = draw(st.sampled_from([-1, 0, num - 1]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dyadic = draw(st.booleans())
    if dyadic:
        dout = (rng.integers(-512, 513, (idx.size, dim)) / 8).astype(dtype)
    else:
        dout = arrays(draw, (idx.size, dim), dtype)
    keep = idx != padding_idx
    dw = np.full((num, dim), np.nan, dtype)
    with np.errstate(invalid="ignore"):
        want64 = np.zeros((num, dim))
        np.add.at(want64, idx[keep], dout[keep].astype(np.float64))
        in_order = np.zeros((num, dim), dtype)
        np.add.at(in_order, idx[keep], dout[keep])

    def check():
        if dyadic:
            np.testing.assert_array_equal(dw, want64, err_msg="dyadic sums must be exact")
        np.testing.assert_array_equal(dw, in_order, err_msg="not the in-order sum in the array's dtype")
        again = np.full_like(dw, np.nan)
        threads = _C.get_num_threads()
        _C.set_num_threads(1)
        try:
            _C.embedding_backward(again, dout, idx, padding_idx)
        finally:
            _C.set_num_threads(threads)
        assert again.tobytes() == dw.tobytes(), "embedding_backward differs between thread counts"

    return Call("embedding_backward", _C.embedding_backward, {"dweight": dw, "dout": dout, "indices": idx}, ["dweight"],
                check).positional(padding_idx)


BUILDERS = {
    "embedding_forward": build_embedding_forward,
    "embedding_backward": build_embedding_backward,
}


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_valid(kernel, data):
    run_valid(BUILDERS, kernel, data)
