"""nerve.save / nerve.load: round trips, damaged and foreign files, atomic replacement."""
import io
import os

import numpy as np
import pytest

import nerve
from nerve import nn, optim


def _tree(rng):
    return {
        "weight": nerve.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
        "step": 7,
        "lr": 0.125,
        "name": "mlp",
        "flag": True,
        "nothing": None,
        "nested": {"ints": nerve.tensor(np.arange(5)), 3: [1.5, "x", (2, np.float64(2.5))]},
        "array": rng.standard_normal(6),
        "empty": np.zeros((0, 3), np.float32),
    }


def test_round_trip(tmp_path, rng):
    obj = _tree(rng)
    path = tmp_path / "ck.npz"
    nerve.save(obj, path)
    got = nerve.load(path)
    assert set(got) == set(obj)
    assert isinstance(got["weight"], nerve.Tensor) and got["weight"].dtype == nerve.float32
    np.testing.assert_array_equal(got["weight"].numpy(), obj["weight"].numpy())
    assert got["nested"]["ints"].dtype == nerve.int64
    assert got["nested"][3] == [1.5, "x", (2, 2.5)] and isinstance(got["nested"][3][2], tuple)
    assert (got["step"], got["lr"], got["name"], got["flag"], got["nothing"]) == (7, 0.125, "mlp", True, None)
    np.testing.assert_array_equal(got["array"], obj["array"])
    assert got["empty"].shape == (0, 3)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_module_and_optimizer_state_round_trip(tmp_path, rng):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    for p in model.parameters():
        p.grad = nerve.tensor(rng.standard_normal(p.shape).astype(np.float32))
    opt.step()
    nerve.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, tmp_path / "run.npz")
    ck = nerve.load(tmp_path / "run.npz")
    model2 = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model2.load_state_dict(ck["model"])
    for (n1, p1), (n2, p2) in zip(model.named_parameters(), model2.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.detach().numpy(), p2.detach().numpy())
    opt2 = optim.Adam(model2.parameters(), lr=1.0)
    opt2.load_state_dict(ck["optimizer"])
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt2.state[next(iter(model2.parameters()))]["step"] == 1


def test_unsupported_objects_raise(tmp_path):
    with pytest.raises(TypeError, match="cannot save an object of type object"):
        nerve.save({"x": object()}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        nerve.save({(1, 2): 3}, tmp_path / "a.npz")
    assert not os.listdir(tmp_path)  # nothing half-written left behind


def test_truncated_file(tmp_path, rng):
    path = tmp_path / "ck.npz"
    nerve.save(_tree(rng), path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 10, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"nerve.load: {path}: not a nerve checkpoint"):
            nerve.load(path)


def test_corrupted_bytes(tmp_path, rng):
    path = tmp_path / "ck.npz"
    nerve.save({"w": nerve.tensor(rng.standard_normal(1000))}, path)
    data = bytearray(path.read_bytes())
    data[200:260] = bytes(60)  # inside the first array's data: the zip CRC check fails
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"nerve.load: {path}"):
        nerve.load(path)


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello, not a checkpoint")
    with pytest.raises(ValueError, match=f"nerve.load: {text}: not a nerve checkpoint"):
        nerve.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(3))
    with pytest.raises(ValueError, match=f"nerve.load: {plain}: not a nerve checkpoint \\(an .npz archive without"):
        nerve.load(plain)
    npy = tmp_path / "objects.npy"
    np.save(npy, np.array([{"a": 1}], dtype=object), allow_pickle=True)  # a pickle inside: refused, never run
    with pytest.raises(ValueError, match=f"nerve.load: {npy}"):
        nerve.load(npy)
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, __nerve__=np.array([{"a": 1}], dtype=object))  # a pickle inside: refused, never run
    with pytest.raises(ValueError, match=f"nerve.load: {pickled}"):
        nerve.load(pickled)
    with pytest.raises(FileNotFoundError):
        nerve.load(tmp_path / "missing.npz")


def test_bad_manifest(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, __nerve__=np.frombuffer(b'{"format": "nerve-checkpoint", "version": 99, "root": {}}', np.uint8))
    with pytest.raises(ValueError, match="version 99"):
        nerve.load(path)
    np.savez(path, __nerve__=np.frombuffer(b'{"format": "nerve-checkpoint", "version": 1, '
                                           b'"root": {"tensor": "a7"}}', np.uint8))
    with pytest.raises(ValueError, match="refers to array 'a7', which the file does not contain"):
        nerve.load(path)
    np.savez(path, __nerve__=np.frombuffer(b'{not json', np.uint8))
    with pytest.raises(ValueError, match="corrupted checkpoint"):
        nerve.load(path)


def test_failed_save_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    nerve.save({"version": "old", "w": nerve.ones(3)}, path)

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        nerve.save({"version": "new", "w": nerve.zeros(3)}, path)
    monkeypatch.undo()
    assert nerve.load(path)["version"] == "old"
    assert os.listdir(tmp_path) == ["ck.npz"]  # the temporary file was removed


def test_process_killed_mid_save_keeps_old_file(tmp_path):
    """A process killed (SIGKILL: no cleanup runs) after writing the temporary
    file but before the rename leaves the old checkpoint whole and loadable."""
    import signal
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "ck.npz"
    nerve.save({"version": "old", "w": nerve.ones(1000)}, path)
    script = textwrap.dedent(f"""
        import os, signal
        import nerve
        os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
        nerve.save({{"version": "new", "w": nerve.zeros(1000)}}, {str(path)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "ck.npz")
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # the new data never replaced the old file
    ck = nerve.load(path)
    assert ck["version"] == "old"
    np.testing.assert_array_equal(ck["w"].numpy(), np.ones(1000, np.float32))


# ------------------------------------------------ PyTorch's calling conventions
@pytest.mark.parametrize("format", ["npz", "torch", "safetensors"])
def test_file_objects(format, tmp_path, rng):
    """save/load take file objects as well as paths, as torch.save/torch.load do."""
    if format == "safetensors":
        pytest.importorskip("safetensors")
    state = nn.Linear(3, 2).state_dict()
    buffer = io.BytesIO()
    nerve.save(state, buffer, format=format)
    buffer.seek(0)
    got = nerve.load(buffer)
    assert sorted(got) == ["bias", "weight"]
    np.testing.assert_array_equal(got["weight"].numpy(), state["weight"].numpy())
    path = tmp_path / f"open.{ {'npz': 'npz', 'torch': 'pt', 'safetensors': 'safetensors'}[format] }"
    with open(path, "wb") as f:  # an open file: the format comes from its name
        nerve.save(state, f)
    with open(path, "rb") as f:
        assert sorted(nerve.load(f)) == ["bias", "weight"]
    assert nerve.load(path)["bias"].tolist() == state["bias"].tolist()


def test_file_object_must_be_binary(tmp_path):
    (tmp_path / "t.txt").write_text("x")
    with open(tmp_path / "t.txt") as f, pytest.raises(TypeError, match="binary file object"):
        nerve.load(f)


def test_load_accepts_map_location_and_weights_only(tmp_path, rng):
    obj = {"w": nerve.tensor(rng.standard_normal(3)), "nested": [nerve.ones(2)], "n": 3}
    nerve.save(obj, tmp_path / "ck.npz")
    for where in ["cpu", nerve.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage]:
        got = nerve.load(tmp_path / "ck.npz", map_location=where, weights_only=True)
        assert got["w"].device == "cpu" and got["nested"][0].tolist() == [1.0, 1.0] and got["n"] == 3
    moved = nerve.load(tmp_path / "ck.npz", map_location=lambda t, loc: t * 2)
    assert moved["nested"][0].tolist() == [2.0, 2.0]
    assert nerve.load(tmp_path / "ck.npz", "cpu", weights_only=False, mmap=True)["n"] == 3
    with pytest.raises(ValueError, match="map_location 'tpu' names no device"):
        nerve.load(tmp_path / "ck.npz", map_location="tpu")
    with pytest.raises(ValueError, match="pickle_module is not supported"):
        nerve.load(tmp_path / "ck.npz", pickle_module=object())


def test_load_whole_plain_objects(tmp_path, rng):
    """A NumPy array, a dict of numbers, lists and strings: saved and loaded whole, from a file object."""
    for obj in [rng.standard_normal((2, 3)), {"epoch": 3, "losses": [0.5, 0.25], "name": "run", "best": 0.1}]:
        buffer = io.BytesIO()
        nerve.save(obj, buffer)
        buffer.seek(0)
        got = nerve.load(buffer)
        if isinstance(obj, dict):
            assert got == obj
        else:
            np.testing.assert_array_equal(got, obj)
    bare = io.BytesIO()
    np.save(bare, np.arange(5.0))  # np.save's .npy, no pickle
    bare.seek(0)
    np.testing.assert_array_equal(nerve.load(bare), np.arange(5.0))
