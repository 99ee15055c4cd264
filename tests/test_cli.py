"""The nerve command: info, and a tiny `nerve train mlp` run end to end."""
import subprocess
import sys

import pytest

import nerve
import nerve.kernels
from nerve.cli import main
from nerve.models import MLP
from nerve.recipes import RECIPES, TrainConfig
from nerve.recipes.training import Task


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "nerve" in out and "isa" in out and nerve.__version__ in out


def test_python_dash_m():
    r = subprocess.run([sys.executable, "-m", "nerve", "info"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "best_isa" in r.stdout


def _train(tmp_path, capsys, *extra):
    out = tmp_path / "ck.npz"
    main(["train", "mlp", "--epochs", "1", "--quiet", "--out", str(out), *extra])
    return out, capsys.readouterr().out


def test_train_mlp_one_epoch(tmp_path, capsys):
    threads = nerve.kernels.get_num_threads()
    ck, out = _train(tmp_path, capsys)
    assert nerve.kernels.get_num_threads() == threads  # --threads is restored afterwards
    assert "mlp: test accuracy" in out and "checkpoint written to" in out and str(ck) in out
    state = nerve.load(ck)
    assert state["model_name"] == "mlp" and state["config"]["epochs"] == 1
    acc = state["report"]["test_accuracy"]
    assert f"{acc * 100:.2f}%" in out and acc > 0.5  # one epoch is far above chance (0.1)
    assert len(state["history"]["loss"]) == 1
    model = MLP(64, (128, 64), 10)
    model.load_state_dict(state["model"])
    images, labels = nerve.data.load_digits()
    model.eval()
    with nerve.no_grad():
        pred = model(nerve.from_numpy(images[:200])).argmax(1).numpy()
    assert (pred == labels[:200]).mean() > 0.5
    opt = nerve.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    opt.load_state_dict(state["optimizer"])
    assert opt.param_groups[0]["nesterov"] is True


def test_train_options_and_seed_reproducibility(tmp_path, capsys):
    a, _ = _train(tmp_path, capsys, "--optimizer", "adam", "--lr", "0.003", "--batch-size", "64", "--seed", "5")
    first = nerve.load(a)["report"]
    b, _ = _train(tmp_path, capsys, "--optimizer", "adam", "--lr", "0.003", "--batch-size", "64", "--seed", "5")
    second = nerve.load(b)
    assert second["config"]["optimizer"] == "adam" and second["config"]["batch_size"] == 64
    assert second["report"]["test_loss"] == first["test_loss"]  # same seed, same run


def test_train_plot(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    _, out = _train(tmp_path, capsys, "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "loss curve written" in out


def test_train_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    png = tmp_path / "curve.png"
    ck, out = _train(tmp_path, capsys, "--plot", str(png))
    assert "--plot needs matplotlib" in out and not png.exists() and ck.exists()


@pytest.mark.parametrize("args,msg", [(["--epochs", "0"], "need --epochs >= 1"), (["--lr", "-1"], "--lr > 0"),
                                      (["--threads", "0"], "--threads must be >= 1")])
def test_train_bad_options(tmp_path, args, msg):
    with pytest.raises(SystemExit, match=msg):
        main(["train", "mlp", "--quiet", "--out", str(tmp_path / "x.npz"), *args])
    assert not (tmp_path / "x.npz").exists()


def test_unknown_model(capsys):
    with pytest.raises(SystemExit):
        main(["train", "resnet9000"])
    assert "invalid choice" in capsys.readouterr().err


def test_recipes_are_complete():
    for name, recipe in RECIPES.items():
        assert callable(recipe.build) and callable(recipe.data) and issubclass(recipe.task, Task), name
        assert set(recipe.defaults) <= set(TrainConfig.__dataclass_fields__), name
