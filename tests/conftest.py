import numpy as np
import pytest

import nerve


def _cuda_param():
    reason = nerve.cuda.unavailable_reason()
    marks = [pytest.mark.cuda] + ([pytest.mark.skip(reason=f"CUDA: {reason}")] if reason else [])
    return pytest.param("cuda", marks=marks)


DEVICES = ["cpu", _cuda_param()]


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test on the CPU and, where a GPU is visible, on CUDA."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    nerve.manual_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=["avx512", "avx2", "generic"])
def isa(request):
    """Force each SIMD variant the CPU supports in turn; restore afterwards."""
    order = nerve._C.isas()  # lowest first; avx512_bf16 and amx sit above avx512
    if order.index(request.param) > order.index(nerve._C.best_isa()):
        pytest.skip(f"this CPU lacks {request.param}")
    before = nerve._C.isa()
    nerve._C.set_isa(request.param)
    yield request.param
    nerve._C.set_isa(before)
