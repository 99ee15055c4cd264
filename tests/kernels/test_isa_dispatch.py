"""set_isa switches the kernels at the next call, down to generic and back up.

The generic GEMM has no FMA (baseline x86-64 flags), so its float32 results
differ in the last bits from the AVX2 / AVX-512 ones: the bits show which
variant ran.
"""
import numpy as np
import pytest

from nerve import _C


def _sgemm(a, b):
    out = np.empty((a.shape[0], b.shape[1]), np.float32)
    _C.gemm(out, a, b)
    return out


def test_set_isa_switches_kernels_both_ways(rng):
    best = _C.best_isa()
    if best == "generic":
        pytest.skip("this CPU has only the generic kernels")
    a = rng.standard_normal((64, 512)).astype(np.float32)
    b = rng.standard_normal((512, 64)).astype(np.float32)
    before = _C.isa()
    try:
        _C.set_isa(best)
        fast = _sgemm(a, b)
        _C.set_isa("generic")
        assert _C.isa() == "generic"
        slow = _sgemm(a, b)
        assert not np.array_equal(fast, slow)  # another variant ran
        _C.set_isa(best)
        assert _C.isa() == best
        np.testing.assert_array_equal(_sgemm(a, b), fast)  # and back up
        _C.set_isa("generic")
        np.testing.assert_array_equal(_sgemm(a, b), slow)
    finally:
        _C.set_isa(before)


def test_set_isa_rejects_unknown_names():
    with pytest.raises(ValueError, match="set_isa: argument 'isa' expected one of .*'generic', got 'x'"):
        _C.set_isa("x")
