"""nerve.save / nerve.load with .safetensors files (the optional safetensors package)."""
import json
import os
import struct
import sys

import numpy as np
import pytest

import nerve
from nerve import nn

safetensors = pytest.importorskip("safetensors", reason="safetensors is not installed (pip install 'nerve[weights]')")
import safetensors.numpy  # noqa: E402


def _state(rng):
    return {
        "w": nerve.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
        "b": nerve.tensor(rng.standard_normal(4)),  # float64
        "h": nerve.tensor(rng.standard_normal(5).astype(np.float16)),
        "i64": nerve.arange(6).reshape(2, 3),
        "i8": nerve.tensor(np.array([-128, 0, 127], np.int8)),
        "u8": nerve.tensor(np.array([0, 255], np.uint8)),
        "mask": nerve.tensor(np.array([True, False, True])),
        "scalar": nerve.tensor(np.float32(2.5)),
        "empty": np.zeros((0, 3), np.float32),  # numpy arrays are accepted too
        "t": nerve.tensor(rng.standard_normal((4, 3)).astype(np.float32)).t(),  # not contiguous
    }


def test_round_trip_by_extension(tmp_path, rng):
    state = _state(rng)
    path = tmp_path / "m.safetensors"
    nerve.save(state, path, metadata={"epoch": "3", "note": "héllo"})
    got, meta = nerve.load(path, with_metadata=True)
    assert meta == {"epoch": "3", "note": "héllo"}
    assert set(got) == set(state)
    for k, v in state.items():
        v = np.asarray(v.numpy() if isinstance(v, nerve.Tensor) else v)
        assert isinstance(got[k], nerve.Tensor)
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k].numpy(), v)
    got["w"].add_(1.0)  # loaded tensors are writable
    assert nerve.load(path).keys() == state.keys()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    # the file is a standard safetensors file
    raw = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(raw["t"], state["t"].numpy())


def test_format_argument_and_sniffing(tmp_path, rng):
    state = {"w": nerve.randn(2, 2)}
    odd = tmp_path / "weights.data"
    nerve.save(state, odd, format="safetensors")
    np.testing.assert_array_equal(nerve.load(odd, format="safetensors")["w"].numpy(), state["w"].numpy())
    np.testing.assert_array_equal(nerve.load(odd)["w"].numpy(), state["w"].numpy())  # recognised by its bytes
    with pytest.raises(ValueError, match="unknown format 'onnx'"):
        nerve.save(state, odd, format="onnx")
    npz = tmp_path / "x.npz"
    nerve.save(state, npz, metadata={"a": "b"})  # npz keeps metadata too
    assert nerve.load(npz, with_metadata=True)[1] == {"a": "b"}


def test_module_state_dict_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    nerve.save(model.state_dict(), tmp_path / "mlp.safetensors")
    model2 = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model2.load_state_dict(nerve.load(tmp_path / "mlp.safetensors"))
    for p1, p2 in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p1.detach().numpy(), p2.detach().numpy())


def _bf16_file(path, values_f32, name="x"):
    """A safetensors file with one BF16 tensor, written byte by byte (NumPy has no bf16)."""
    bits = (np.asarray(values_f32, np.float32).view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({name: {"dtype": "BF16", "shape": list(bits.shape), "data_offsets": [0, bits.nbytes]},
                         "__metadata__": {"format": "pt"}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bits.tobytes())


def test_bf16_loads_as_bfloat16(tmp_path):
    values = np.array([[1.0, -2.5, 3.140625], [0.0, -0.0, 65280.0]], np.float32)  # exactly representable in bf16
    _bf16_file(tmp_path / "b.safetensors", values)
    got = nerve.load(tmp_path / "b.safetensors")["x"]
    assert got.dtype == nerve.bfloat16
    np.testing.assert_array_equal(got.float().numpy(), values)
    inexact = np.array([1.0 + 2 ** -10, np.inf, -np.inf], np.float32)
    _bf16_file(tmp_path / "c.safetensors", inexact)
    np.testing.assert_array_equal(nerve.load(tmp_path / "c.safetensors")["x"].float().numpy(), [1.0, np.inf, -np.inf])
    nerve.save({"x": got}, tmp_path / "d.safetensors")  # and written back as BF16, bit for bit
    assert (tmp_path / "d.safetensors").read_bytes().count(b'"BF16"') == 1
    np.testing.assert_array_equal(nerve.load(tmp_path / "d.safetensors")["x"].numpy().view(np.uint16),
                                  got.numpy().view(np.uint16))


def test_bad_inputs(tmp_path):
    with pytest.raises(TypeError, match="holds tensors only, but 'step' is a int"):
        nerve.save({"step": 3}, tmp_path / "a.safetensors")
    with pytest.raises(TypeError, match="flat dict"):
        nerve.save([nerve.ones(2)], tmp_path / "a.safetensors")
    with pytest.raises(TypeError, match="metadata must be a dict of str -> str"):
        nerve.save({"w": nerve.ones(2)}, tmp_path / "a.safetensors", metadata={"epoch": 3})
    assert not os.listdir(tmp_path)
    bad = tmp_path / "bad.safetensors"
    nerve.save({"w": nerve.ones(100)}, bad)
    bad.write_bytes(bad.read_bytes()[:-40])  # truncated
    with pytest.raises(ValueError, match=f"nerve.load: {bad}: not a readable safetensors file"):
        nerve.load(bad)
    bad.write_bytes(b"hello")
    with pytest.raises(ValueError, match=f"nerve.load: {bad}: not a readable safetensors file"):
        nerve.load(bad)


def test_missing_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import safetensors now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "nerve\[weights\]"'):
        nerve.save({"w": nerve.ones(2)}, tmp_path / "a.safetensors")
    assert not os.listdir(tmp_path)
