"""The nerve command: info, and a tiny `nerve train mlp` run end to end."""
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nerve
import nerve.kernels
from nerve.cli import main
from nerve.models import MLP
from nerve.recipes import RECIPES, TrainConfig
from nerve.recipes import training
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


def test_train_plot_without_matplotlib_stops_before_training(tmp_path, monkeypatch):
    """Checked up front: before, the missing matplotlib was only noticed after the whole run."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    png = tmp_path / "curve.png"
    with pytest.raises(SystemExit, match="--plot needs matplotlib"):
        main(["train", "mlp", "--quiet", "--out", str(tmp_path / "ck.npz"), "--plot", str(png)])
    assert not png.exists() and not (tmp_path / "ck.npz").exists()


@pytest.mark.parametrize("args,msg", [
    (["--epochs", "0"], "need --epochs >= 1"), (["--lr", "-1"], "--lr > 0"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "tpu"], "--device 'tpu' is not a device"),  # was a ValueError traceback
    (["--workers", "-1"], "--workers must be >= 0"),  # was a ValueError traceback from the DataLoader
    (["--steps", "5"], "--steps is for the models trained by steps"),
])
def test_train_bad_options(tmp_path, args, msg):
    with pytest.raises(SystemExit, match=msg):
        main(["train", "mlp", "--quiet", "--out", str(tmp_path / "x.npz"), *args])
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("model", ["char-lstm", "seq2seq"])
def test_train_zero_steps_is_a_clear_error(tmp_path, model):
    """--steps 0 ended in an IndexError traceback after 'training' (no history to report)."""
    with pytest.raises(SystemExit, match=r"need --steps >= 1, got 0"):
        main(["train", model, "--quiet", "--steps", "0", "--out", str(tmp_path / "x.npz")])
    assert not (tmp_path / "x.npz").exists()


def test_progress_to_a_file_is_one_line_per_epoch(tmp_path, capsys):
    """stderr that is not a terminal gets plain lines, not a bar redrawn per batch (286 KB in 2 s before)."""
    main(["train", "mlp", "--epochs", "3", "--out", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "loss=" in lines[0] and "\r" not in err and len(err) < 1000


def test_progress_bar_on_a_terminal_is_throttled(tmp_path, monkeypatch):
    """On a terminal the bar redraws at most every PROGRESS_INTERVAL seconds, not per batch."""
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    start = time.perf_counter()
    main(["train", "mlp", "--epochs", "3", "--out", str(tmp_path / "x.npz")])
    seconds = time.perf_counter() - start
    redraws = term.getvalue().count("\r")
    batches = 3 * ((1437 + 31) // 32)  # digits' training split, batch 32
    assert redraws <= seconds / training.PROGRESS_INTERVAL + 3 * 3 + 2 < batches


def test_nerve_isa_any_case_or_unknown_does_not_abort():
    """NERVE_ISA=bogus (or AVX2) aborted Python at import (a C++ static initializer threw)."""
    from nerve import _C
    order = list(_C.isas())
    for value, want in [("AVX2", "avx2"), (" Generic ", "generic"), ("bogus", None), ("", None)]:
        env = dict(os.environ, NERVE_ISA=value)
        r = subprocess.run([sys.executable, "-c", "import nerve; print(nerve._C.isa(), nerve._C.best_isa())"],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0, (value, r.stderr)
        isa, best = r.stdout.split()
        expected = best if want is None else order[min(order.index(want), order.index(best))]
        assert isa == expected, value
        assert ("nerve: NERVE_ISA ignored (set_isa: argument 'isa' expected one of" in r.stderr) == (value == "bogus")


def test_bench_lists_suites_and_refuses_unknown_ones():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, timeout=60, cwd=root)
    assert r.returncode == 0 and "gemm" in r.stdout and "layer_norm" in r.stdout
    r = subprocess.run([sys.executable, "-m", "bench", "no_such_suite"], capture_output=True, text=True, timeout=60,
                       cwd=root)
    assert r.returncode == 2 and "unknown suite 'no_such_suite'" in r.stderr and "Traceback" not in r.stderr


def test_unknown_model(capsys):
    with pytest.raises(SystemExit):
        main(["train", "resnet9000"])
    assert "invalid choice" in capsys.readouterr().err


def test_recipes_are_complete():
    for name, recipe in RECIPES.items():
        assert callable(recipe.build) and callable(recipe.data) and issubclass(recipe.task, Task), name
        assert set(recipe.defaults) <= set(TrainConfig.__dataclass_fields__), name
