"""DLPack and the NumPy / CUDA array protocols: zero-copy exchange with NumPy, PyTorch and CuPy."""
import numpy as np
import pytest

import nerve


def test_array_protocol_copy_keyword():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = nerve.from_numpy(a)
    assert np.shares_memory(np.asarray(t), a)
    assert np.shares_memory(np.array(t, copy=False), a)
    c = np.array(t, copy=True)
    assert not np.shares_memory(c, a) and np.array_equal(c, a)
    d = np.asarray(t, dtype=np.float64)  # a dtype change copies
    assert d.dtype == np.float64 and not np.shares_memory(d, a)
    with pytest.raises(ValueError, match="needs a copy"):
        np.array(t, dtype=np.float64, copy=False)
    assert np.shares_memory(np.asarray(t, dtype=np.float32), a)


def test_dlpack_zero_copy_with_numpy():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    t = nerve.from_dlpack(a)
    assert isinstance(t, nerve.Tensor) and np.shares_memory(t.numpy(), a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)
    assert t.__dlpack_device__() == (1, 0)  # kDLCPU
    s = nerve.from_dlpack(nerve.from_numpy(a)[:, 1::2])  # strided views travel too
    np.testing.assert_array_equal(s.numpy(), a[:, 1::2])
    assert np.shares_memory(s.numpy(), a)
    assert not hasattr(t, "__cuda_array_interface__")


def test_dlpack_with_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    x = torch.arange(6.0).reshape(2, 3)
    t = nerve.from_dlpack(x)
    x[0, 0] = 42.0
    assert t[0, 0].item() == 42.0  # shares memory
    y = torch.from_dlpack(t)
    t.data[1, 2] = -1.0
    assert y[1, 2].item() == -1.0
    assert torch.equal(torch.from_dlpack(nerve.ones(2, 2)), torch.ones(2, 2))
    z = torch.as_tensor(np.asarray(nerve.arange(3)))
    assert z.tolist() == [0, 1, 2]


@pytest.mark.cuda
def test_cuda_array_interface_and_dlpack_with_cupy():
    reason = nerve.cuda.unavailable_reason()
    if reason:
        pytest.skip(f"CUDA: {reason}")
    import cupy
    t = nerve.arange(6, dtype=nerve.float32, device="cuda")
    iface = t.__cuda_array_interface__
    assert iface["shape"] == (6,) and iface["data"][0] == t.array.data.ptr
    c = cupy.from_dlpack(t)
    c[0] = 7.0
    assert t[0].item() == 7.0
    back = nerve.from_dlpack(cupy.arange(3, dtype=cupy.float32))
    assert back.device.type == "cuda" and back.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="cuda tensor"):
        np.asarray(t)
