"""nerve.load of PyTorch checkpoints (torch.save files) without PyTorch, and refusing unsafe pickles.

The fixtures in tests/data/checkpoints/ were written once by real PyTorch
(tools/make_torch_fixtures.py); the hand-made pickles below are built opcode
by opcode. Only the last tests need torch, and skip without it.
"""
import io
import os
import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.serialization import UnsafeCheckpointError

DATA = pathlib.Path(__file__).parent / "data" / "checkpoints"
FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": nerve.bfloat16,
                "complex64": np.complex64, "complex128": np.complex128}
INT_DTYPES = {"int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8,
              "bool": np.bool_, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64}


def _check_fixture(sd, new_dtypes):
    raw = (np.arange(6) * 3 - 5).reshape(2, 3)  # what tools/make_torch_fixtures.py stored in every dtype
    for name, dtype in {**FLOAT_DTYPES, **INT_DTYPES}.items():
        if name.startswith("uint") and name != "uint8" and not new_dtypes:
            assert name not in sd
            continue
        t = sd[name]
        assert isinstance(t, nerve.Tensor) and t.dtype == np.dtype(dtype), name
        if name == "uint8":
            expected = raw.astype(np.int64) % 256  # torch wraps negative values
        elif name == "bool":
            expected = raw != 0
        else:
            expected = raw
        np.testing.assert_array_equal(t.numpy(), np.asarray(expected).astype(dtype), err_msg=name)
    base = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(sd["base"].numpy(), base)
    np.testing.assert_array_equal(sd["columns"].numpy(), base[:, 1:3])
    np.testing.assert_array_equal(sd["transposed"].numpy(), base.T)
    np.testing.assert_array_equal(sd["row"].numpy(), base[2])
    assert sd["scalar"].shape == () and sd["scalar"].item() == 5.0
    assert sd["empty"].shape == (0, 3)
    # the same tensor saved twice shares one storage, as in torch; views are copies
    assert np.shares_memory(sd["tied"].data, sd["base"].data)
    assert not np.shares_memory(sd["columns"].data, sd["base"].data)
    sd["columns"].data[0, 0] = 99.0
    assert sd["base"].numpy()[0, 1] == 1.0
    assert sd["param"].requires_grad and sd["param"].dtype == np.float32
    np.testing.assert_array_equal(sd["param"].detach().numpy(), [0.5, 0.5])
    assert sd["meta"] == {"step": 3, "lr": 0.25, "name": "fixture", "blob": b"\x00\xff", "ids": {1, 2},
                          "device": "cpu", "shape": (2, 3), "big": 2 ** 70, "none": None, "nested": [1, (2, 3.5)]}


def test_zip_checkpoint_written_by_torch():
    _check_fixture(nerve.load(DATA / "state_dict.pt"), new_dtypes=True)


def test_legacy_checkpoint_written_by_torch():
    _check_fixture(nerve.load(DATA / "state_dict_legacy.pt"), new_dtypes=False)


def test_format_argument_and_other_extensions(tmp_path):
    data = (DATA / "mlp.pt").read_bytes()
    for name in ("pytorch_model.bin", "weights.pth", "weights.ckpt", "weights"):
        (tmp_path / name).write_bytes(data)
        assert set(nerve.load(tmp_path / name)) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert set(nerve.load(tmp_path / "weights", format="torch")) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_load_state_dict_into_the_same_layout():
    sd = nerve.load(DATA / "mlp.pt")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model.load_state_dict(sd)
    params = [np.linspace(-1, 1, n, dtype=np.float32) * (i + 1) for i, n in enumerate((12, 3, 6, 2))]
    w1, b1, w2, b2 = params[0].reshape(3, 4), params[1], params[2].reshape(2, 3), params[3]
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
    expected = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    with nerve.no_grad():
        np.testing.assert_allclose(model(nerve.tensor(x)).numpy(), expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ hand-made pickles
class _Pickle:
    """Protocol-2 pickle opcodes, written by hand: nothing here imports or pickles real objects."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")

    def glob(self, module, name):
        self.out += b"c" + f"{module}\n{name}\n".encode()
        return self

    def str(self, s):
        b = s.encode()
        self.out += b"X" + struct.pack("<I", len(b)) + b
        return self

    def int(self, i):
        self.out += b"J" + struct.pack("<i", i)
        return self

    def op(self, code):
        self.out += code
        return self

    def tuple(self, *items):
        self.op(b"(")
        for item in items:
            item(self)
        return self.op(b"t")

    def bytes(self):
        return bytes(self.out + b".")


def _tensor(storage_key="0", dtype="FloatStorage", numel=4, offset=0, size=(2, 2), stride=(2, 1)):
    """Pushes _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""
    def push(p):
        p.glob("torch._utils", "_rebuild_tensor_v2")
        p.op(b"(")  # the argument tuple
        p.tuple(lambda q: q.str("storage"), lambda q: q.glob("torch", dtype), lambda q: q.str(storage_key),
                lambda q: q.str("cpu"), lambda q: q.int(numel))
        p.op(b"Q")  # BINPERSID
        p.int(offset)
        p.tuple(*[lambda q, n=n: q.int(n) for n in size])
        p.tuple(*[lambda q, n=n: q.int(n) for n in stride])
        p.op(b"\x89")  # False
        p.glob("collections", "OrderedDict").op(b")R")
        p.op(b"tR")
    return push


def _state_dict_pickle(*entries):
    p = _Pickle().op(b"}(")
    for key, push in entries:
        p.str(key)
        push(p)
    return p.op(b"u").bytes()


def _zip(path, pkl, storages):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")


def test_hand_made_zip_checkpoint(tmp_path):
    storage = np.arange(8, dtype=np.float32).tobytes()
    pkl = _state_dict_pickle(("a", _tensor(numel=8)), ("b", _tensor(offset=3, size=(2, 2), stride=(1, 3), numel=8)))
    _zip(tmp_path / "h.pt", pkl, {"0": storage})
    sd = nerve.load(tmp_path / "h.pt")
    np.testing.assert_array_equal(sd["a"].numpy(), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(sd["b"].numpy(), [[3, 6], [4, 7]])


def test_out_of_bounds_views_are_refused(tmp_path):
    storage = np.arange(4, dtype=np.float32).tobytes()
    for geometry in (dict(offset=1), dict(stride=(3, 1)), dict(size=(3, 2)), dict(stride=(2, -1))):
        _zip(tmp_path / "h.pt", _state_dict_pickle(("a", _tensor(**geometry))), {"0": storage})
        with pytest.raises(ValueError, match="nerve.load: .*h.pt: not a readable PyTorch checkpoint"):
            nerve.load(tmp_path / "h.pt")
    _zip(tmp_path / "h.pt", _state_dict_pickle(("a", _tensor())), {})
    with pytest.raises(ValueError, match="storage '0' is missing"):
        nerve.load(tmp_path / "h.pt")
    _zip(tmp_path / "h.pt", _state_dict_pickle(("a", _tensor())), {"0": storage[:8]})
    with pytest.raises(ValueError, match="holds 8 bytes"):
        nerve.load(tmp_path / "h.pt")


MARKER = "nerve_pwned_marker"


def _evil_pickles(marker):
    cmd = f"touch {marker}"
    yield "os.system", _Pickle().glob("os", "system").tuple(lambda p: p.str(cmd)).op(b"R").bytes()
    yield "posix.system", _Pickle().glob("posix", "system").tuple(lambda p: p.str(cmd)).op(b"R").bytes()
    yield "builtins.eval", _Pickle().glob("builtins", "eval").tuple(
        lambda p: p.str(f"__import__('os').system({cmd!r})")).op(b"R").bytes()
    yield "__builtin__.getattr", _Pickle().glob("__builtin__", "getattr").bytes()
    yield "subprocess.Popen", _state_dict_pickle(("w", _tensor()), ("x", lambda p: p.glob("subprocess", "Popen")))
    yield "torch._utils._rebuild_device_tensor_from_numpy", _Pickle().glob(
        "torch._utils", "_rebuild_device_tensor_from_numpy").bytes()
    yield "torch.load", _Pickle().glob("torch", "load").bytes()
    yield "numpy.core.multiarray._reconstruct", _Pickle().glob("numpy.core.multiarray", "_reconstruct").bytes()
    # protocol 0 text opcodes, the classic form
    yield "os.system", f"cos\nsystem\n(S'{cmd}'\ntR.".encode()
    # a real pickle.dumps of a __reduce__ exploit
    class Exploit:
        def __reduce__(self):
            return os.system, (cmd,)
    yield f"{os.system.__module__}.system", pickle.dumps({"w": Exploit()}, protocol=2)


def test_malicious_pickles_are_refused_without_running(tmp_path):
    marker = tmp_path / MARKER
    for i, (name, pkl) in enumerate(_evil_pickles(marker)):
        path = tmp_path / f"evil{i}.pt"
        _zip(path, pkl, {"0": bytes(16)})
        with pytest.raises(UnsafeCheckpointError, match=f"refused to load the global '{name}'") as err:
            nerve.load(path)
        assert isinstance(err.value, ValueError) and isinstance(err.value, pickle.UnpicklingError)
        assert str(path) in str(err.value)
        # the legacy (non-zip) format goes through the same unpickler
        legacy = tmp_path / f"evil{i}_legacy.pt"
        magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
        legacy.write_bytes(magic + pickle.dumps(1001, protocol=2) + pickle.dumps({}, protocol=2) + pkl)
        with pytest.raises(UnsafeCheckpointError, match=f"'{name}'"):
            nerve.load(legacy)
    assert not marker.exists()


def test_damaged_torch_files(tmp_path):
    data = (DATA / "state_dict.pt").read_bytes()
    path = tmp_path / "cut.pt"
    for cut in (len(data) // 2, 100, 3):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"nerve.load: {path}"):
            nerve.load(path)
    legacy = (DATA / "state_dict_legacy.pt").read_bytes()
    path.write_bytes(legacy[:-5])
    with pytest.raises(ValueError, match="the file ends inside storage"):
        nerve.load(path)
    zip_without_pickle = tmp_path / "other.pt"
    with zipfile.ZipFile(zip_without_pickle, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        nerve.load(zip_without_pickle)


def test_unsupported_dtype_is_named(tmp_path):
    _zip(tmp_path / "f8.pt", _state_dict_pickle(("a", _tensor(dtype="Float8_e4m3fnStorage"))), {"0": bytes(4)})
    with pytest.raises(UnsafeCheckpointError, match="torch.Float8_e4m3fnStorage"):
        nerve.load(tmp_path / "f8.pt")


# ------------------------------------------------------------------ nerve writes .pt
def test_save_torch_format_round_trip(tmp_path, rng):
    state = {"w": nerve.tensor(rng.standard_normal((3, 4)).astype(np.float32)), "b": nerve.arange(3),
             "t": nerve.tensor(rng.standard_normal((4, 3))).t(), "m": nerve.tensor(np.array([True, False])),
             "h": nerve.tensor(np.ones(2, np.float16)), "nested": {"step": 7, "lr": 0.5, "name": "x", "ok": None,
                                                                    "l": [1, 2.5], "tup": (1, "a")}}
    state["tied"] = state["w"]
    nerve.save(state, tmp_path / "n.pt")
    got = nerve.load(tmp_path / "n.pt")
    for k in ("w", "b", "t", "m", "h"):
        assert got[k].dtype == state[k].dtype
        np.testing.assert_array_equal(got[k].numpy(), state[k].numpy())
    assert np.shares_memory(got["tied"].data, got["w"].data)
    assert got["nested"] == state["nested"]


# ------------------------------------------------------------------ with real PyTorch
def test_real_torch_round_trip(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the fixture tests above cover reading")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 5))
    sd = model.state_dict()
    sd["bf16"] = torch.randn(3, 5).bfloat16()
    sd["view"] = sd["3.weight"][1:, ::2]
    torch.save(sd, tmp_path / "m.pt")
    got = nerve.load(tmp_path / "m.pt")
    assert list(got) == list(sd)
    for k, v in sd.items():
        expected = v.view(torch.int16).numpy().view(nerve.bfloat16) if v.dtype == torch.bfloat16 else v.numpy()
        assert got[k].dtype == expected.dtype, k
        np.testing.assert_array_equal(got[k].numpy(), expected, err_msg=k)
    # and nerve's .pt files load in torch with weights_only=True
    mine = {k: v for k, v in got.items()}
    mine["meta"] = {"epoch": 2, "names": ["a", "b"]}
    nerve.save(mine, tmp_path / "n.pt")
    back = torch.load(tmp_path / "n.pt", weights_only=True)
    assert back["meta"] == {"epoch": 2, "names": ["a", "b"]}
    for k, v in got.items():
        b = back[k].view(torch.int16).numpy().view(nerve.bfloat16) if back[k].dtype == torch.bfloat16 else back[k].numpy()
        np.testing.assert_array_equal(b, v.numpy(), err_msg=k)
