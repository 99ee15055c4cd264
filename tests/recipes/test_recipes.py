"""Every `nerve train` recipe end to end through the CLI at toy sizes: the
report it prints, the checkpoint it writes, and that the checkpoint loads."""
import numpy as np
import pytest

import nerve
import nerve.recipes
from nerve.cli import main
from nerve.models import CharLM, LeNet, ResNet, Seq2SeqTransformer, TransformerLM
from nerve.recipes import RECIPES
from nerve.recipes.language import corpus


def train(tmp_path, capsys, model, *args):
    out = tmp_path / f"{model}.npz"
    assert main(["train", model, "--quiet", "--out", str(out), *args]) == 0
    ckpt = nerve.load(str(out))
    assert ckpt["model_name"] == model
    return ckpt, capsys.readouterr().out


@pytest.mark.parametrize("model, cls", [("cnn", LeNet), ("resnet", ResNet)])
def test_digit_classifiers(tmp_path, capsys, model, cls):
    ckpt, out = train(tmp_path, capsys, model, "--epochs", "1", "-o", "width=4")
    assert 0 <= ckpt["report"]["test_accuracy"] <= 1 and ckpt["report"]["test_samples"] == 359
    assert f"{model}: test accuracy" in out and "checkpoint written" in out
    net = cls(width=4) if cls is LeNet else cls(widths=(4, 8))
    net.load_state_dict(ckpt["model"])


LM_ARGS = ["--steps", "3", "--batch-size", "4", "-o", "seq_len=16", "-o", "eval_batches=1", "-o", "sample_length=20"]


@pytest.mark.parametrize("model", ["char-lstm", "char-gru"])
def test_char_lm_recipes(tmp_path, capsys, model):
    ckpt, out = train(tmp_path, capsys, model, *LM_ARGS, "-o", "hidden=16", "-o", "embed=8")
    report = ckpt["report"]
    assert report["unigram_entropy"] == pytest.approx(corpus().unigram_entropy())
    assert 3.0 < report["unigram_entropy"] < 3.5  # the Shakespeare corpus's, in nats/char
    assert np.isfinite(report["train_loss"]) and np.isfinite(report["val_loss"])
    assert report["sample"].startswith("ROMEO:\n") and len(report["sample"]) == len("ROMEO:\n") + 20
    assert "unigram entropy" in out and "nats/char" in out and "chars/s" in out and report["sample"] in out
    net = CharLM(len(report["vocab"]), 8, 16, cell=model[5:])
    net.load_state_dict(ckpt["model"])


def test_transformer_recipe(tmp_path, capsys):
    ckpt, out = train(tmp_path, capsys, "transformer", *LM_ARGS, "-o", "d_model=16", "-o", "heads=2", "-o", "layers=1")
    report = ckpt["report"]
    assert len(report["greedy_sample"]) == len(report["sample"]) == len("ROMEO:\n") + 20
    assert "greedy sample" in out
    TransformerLM(len(report["vocab"]), 16, 2, 1, context=16).load_state_dict(ckpt["model"])


def test_seq2seq_recipe(tmp_path, capsys):
    ckpt, out = train(tmp_path, capsys, "seq2seq", "--steps", "3", "-o", "d_model=16", "-o", "length=4",
                      "-o", "test_size=20")
    report = ckpt["report"]
    assert 0 <= report["sequence_accuracy"] <= report["token_accuracy"] <= 1 and report["test_samples"] == 20
    assert "token accuracy" in out
    Seq2SeqTransformer(11, 16, 4, 2, 32, max_len=5).load_state_dict(ckpt["model"])


def test_gan_recipe_with_and_without_a_cnn_checkpoint(tmp_path, capsys):
    gan_args = ["--epochs", "1", "--batch-size", "128", "-o", "width=8", "-o", "n_eval=20",
                "-o", "classifier_epochs=1", "--sample-every", "5", "--label-smoothing", "0.1"]
    ckpt, out = train(tmp_path, capsys, "gan", *gan_args)
    report = ckpt["report"]
    assert report["classifier"].startswith("LeNet trained in process")  # no cnn.npz beside the checkpoint yet
    assert sum(report["class_histogram"]) == 20 and len(report["class_histogram"]) == 10
    assert 0.1 <= report["mean_confidence"] <= 1
    assert report["steps"] == 1437 // 128  # one epoch of the training split, the last partial batch dropped
    assert report["grids"] == [str(tmp_path / name) for name in ("gan_step00005.png", "gan_step00010.png", "gan.png")]
    for path in report["grids"]:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "class histogram" in out and "health" in out
    assert ckpt["config"]["label_smoothing"] == 0.1

    train(tmp_path, capsys, "cnn", "--epochs", "1", "-o", "width=4")
    ckpt, out = train(tmp_path, capsys, "gan", *gan_args)
    assert ckpt["report"]["classifier"] == str(tmp_path / "cnn.npz")


def test_bad_options_are_reported(tmp_path, capsys):
    with pytest.raises(SystemExit, match="-o expected KEY=VALUE with a known KEY, got 'size=3'; options: .*hidden"):
        main(["train", "char-lstm", "-o", "size=3"])
    with pytest.raises(SystemExit, match="-o hidden expected a int, got 'big'"):
        main(["train", "char-lstm", "-o", "hidden=big"])
    with pytest.raises(SystemExit, match="--label-smoothing in \\[0, 1\\)"):
        main(["train", "gan", "--label-smoothing", "1.5"])


def test_every_recipe_is_smoke_tested():
    assert set(RECIPES) == {"mlp", "cnn", "resnet", "char-lstm", "char-gru", "transformer", "seq2seq", "gan"}


def test_the_registry_is_still_reachable_from_nerve_models():
    import nerve.models
    assert nerve.models.RECIPES is RECIPES and nerve.models.Recipe is nerve.recipes.Recipe
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        nerve.models.nothing
