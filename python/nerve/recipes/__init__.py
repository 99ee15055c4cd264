"""The recipes ``nerve train <name>`` runs: which model, on which data, trained how.

``RECIPES`` maps a name to a Recipe: how to build the model (from
nerve.models), load its data, which Task trains it, and the command-line
defaults and -o options that suit it. Every Task runs in the one training
loop, ``training.fit``; ``train(name, config)`` does a whole run.

    recipe               data           task (module)
    mlp, cnn, resnet     digits_split   ClassifierTraining (classification.py)
    char-lstm, char-gru  text_data      LanguageModelTraining (language.py)
    transformer          text_data      LanguageModelTraining
    seq2seq              reversal_data  Seq2SeqTraining (seq2seq.py)
    gan                  digits_split   GANTraining (gan.py)

To add a model, write it in nerve.models and add one entry here; a new kind
of training is a new Task subclass (see training.Task).
"""
import dataclasses
from typing import Callable

import nerve
from nerve.models import GAN, MLP, CharLM, LeNet, ResNet, Seq2SeqTransformer, TransformerLM
from nerve.recipes import seq2seq
from nerve.recipes.classification import ClassifierTraining, digits_split
from nerve.recipes.gan import GANTraining
from nerve.recipes.language import LanguageModelTraining, corpus, text_data
from nerve.recipes.training import TrainConfig, fit

__all__ = ["RECIPES", "Recipe", "TrainConfig", "fit", "train"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    description: str
    build: Callable  # (config) -> nn.Module
    data: Callable  # (config) -> (train_dataset, test_dataset)
    task: type  # a training.Task subclass: (name, model, train_dataset, test_dataset, config) -> Task
    defaults: dict  # TrainConfig fields that suit this model
    options: dict = dataclasses.field(default_factory=dict)  # model sizes etc., overridable with -o KEY=VALUE


def train(name, config, file=None):
    """A whole ``nerve train <name>`` run under `config`: seed nerve's generator, load the data, build the model,
    train it; the summary goes to `file` (stdout). Returns the report dict."""
    recipe = RECIPES[name]
    nerve.manual_seed(config.seed)
    train_set, test_set = recipe.data(config)
    model = recipe.build(config)
    return fit(recipe.task(name, model, train_set, test_set, config), file)


def _char_lm(cell):
    return Recipe(
        description=f"character-level {cell.upper()} language model on the built-in Shakespeare corpus",
        build=lambda c: CharLM(len(corpus().vocab), c.options["embed"], c.options["hidden"],
                               c.options["layers"], cell=cell),
        data=text_data,
        task=LanguageModelTraining,
        # LSTM: hidden 256 for 1500 steps reached 1.68 nats/char in 155 s; hidden 128 for 1000 steps 1.86 in 30 s.
        defaults=dict(steps=1500, batch_size=32, lr=3e-3, optimizer="adam"),
        options=dict(embed=64, hidden=256, layers=1, seq_len=64, eval_batches=16, prompt="ROMEO:\n",
                     sample_length=300, temperature=0.8),
    )


RECIPES = {
    "mlp": Recipe(
        description="MLP 64-128-64-10 (ReLU, dropout 0.3) on the built-in 8x8 digits",
        build=lambda config: MLP(64, (128, 64), 10, dropout=0.3),
        data=digits_split,
        task=ClassifierTraining,
        # Nesterov SGD with a cosine schedule reached 97.2-98.3% test accuracy
        # over seeds 0-7 (Adam at lr 1e-3 or 3e-3: 96.1-97.8%). One thread:
        # the 32x64x128 GEMMs are too small to split across cores.
        defaults=dict(epochs=50, batch_size=32, lr=0.1, optimizer="sgd", weight_decay=1e-4, schedule="cosine",
                      threads=1),
    ),
    "cnn": Recipe(
        description="LeNet-style CNN (two conv-BN-ReLU-maxpool stages) on the built-in 8x8 digits",
        build=lambda c: LeNet(width=c.options["width"]),
        data=digits_split,
        task=ClassifierTraining,
        # Adam with a cosine schedule over 60 epochs: 98.33-98.89% test accuracy over seeds 0-3 and 5 (a constant
        # lr over 30 epochs: 97.77-98.61%; width 32 took 3x the time for no gain).
        defaults=dict(epochs=60, batch_size=64, lr=2e-3, optimizer="adam", schedule="cosine"),
        options=dict(width=16),
    ),
    "resnet": Recipe(
        description="small ResNet (stem, two residual stages, global average pooling) on the built-in 8x8 digits",
        build=lambda c: ResNet(widths=(c.options["width"], 2 * c.options["width"])),
        data=digits_split,
        task=ClassifierTraining,
        defaults=dict(epochs=10, batch_size=64, lr=2e-3, optimizer="adam"),
        options=dict(width=16),
    ),
    "char-lstm": _char_lm("lstm"),
    "char-gru": _char_lm("gru"),
    "transformer": Recipe(
        description="decoder-only Transformer (GPT-style) character language model on the built-in Shakespeare corpus",
        build=lambda c: TransformerLM(len(corpus().vocab), c.options["d_model"], c.options["heads"],
                                      c.options["layers"], context=c.options["seq_len"]),
        data=text_data,
        task=LanguageModelTraining,
        defaults=dict(steps=1600, batch_size=32, lr=3e-3, optimizer="adamw"),
        options=dict(d_model=64, heads=4, layers=2, seq_len=64, eval_batches=16, prompt="ROMEO:\n",
                     sample_length=300, temperature=0.8, greedy_sample=True),
    ),
    "seq2seq": Recipe(
        description="encoder-decoder Transformer that learns to reverse random digit strings (synthetic)",
        build=lambda c: Seq2SeqTransformer(seq2seq.VOCAB, c.options["d_model"], c.options["heads"],
                                           c.options["layers"], 2 * c.options["d_model"],
                                           max_len=c.options["length"] + 1),
        data=seq2seq.reversal_data,
        task=seq2seq.Seq2SeqTraining,
        defaults=dict(steps=400, batch_size=64, lr=1e-3, optimizer="adam"),
        options=dict(d_model=64, heads=4, layers=2, length=8, test_size=1000),
    ),
    "gan": Recipe(
        description="DCGAN on the built-in 8x8 digits (scaled to [-1, 1]), with sample grids and a classifier check",
        build=lambda c: GAN(c.options["latent_dim"], c.options["width"]),
        data=digits_split,
        task=GANTraining,
        defaults=dict(epochs=30, batch_size=64, lr=2e-4, optimizer="adam"),
        options=dict(latent_dim=32, width=64, classifier="", classifier_epochs=8, n_eval=500),
    ),
}
