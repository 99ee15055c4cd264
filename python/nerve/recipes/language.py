"""``nerve train char-lstm | char-gru | transformer``: a character-level
language model on the built-in Shakespeare corpus.

Data: the built-in corpus (nerve.data.load_text_corpus) as character ids, the
first 90% for training and the last 10% for validation. Each step draws
`batch_size` fresh random windows of `seq_len + 1` characters (no state is
carried between windows, so no truncated-BPTT bookkeeping), predicts every
next character, and takes an optimizer step after clipping the gradient
norm. Losses are in nats per character; the report sets them against the
unigram entropy of the training text, the loss of a model that knows the
character frequencies and nothing else.
"""
import functools

import numpy as np

import nerve
from nerve.models.language_model import Vocabulary
from nerve.nn import functional as F
from nerve.recipes.training import Task


class TextData:
    """A text as ids over its Vocabulary, split into a training head and a validation tail."""

    def __init__(self, text, val_fraction=0.1):
        self.vocab = Vocabulary(text)
        ids = self.vocab.encode(text)
        cut = int(len(ids) * (1 - val_fraction))
        self.train, self.val = ids[:cut], ids[cut:]

    def unigram_entropy(self):
        """Entropy of the training text's character frequencies, in nats per character."""
        counts = np.bincount(self.train, minlength=len(self.vocab))
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())


@functools.lru_cache(maxsize=1)
def corpus():
    """The built-in corpus as TextData (cached: the recipes' build and data both need it)."""
    from nerve.data import load_text_corpus
    return TextData(load_text_corpus())


def random_windows(ids, batch, length, rng):
    """`batch` random windows of ids: inputs (batch, length) and next-character targets (batch, length)."""
    starts = rng.integers(0, len(ids) - length, size=batch)
    w = ids[starts[:, None] + np.arange(length + 1)]
    return w[:, :-1], w[:, 1:]


def lm_loss(model, x, y):
    """Mean next-character cross-entropy; CharLM returns (logits, state), TransformerLM logits."""
    out = model(x)
    logits = out[0] if isinstance(out, tuple) else out
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@nerve.no_grad()
def evaluate_lm(model, ids, seq_len, batch, batches, device, seed=1234):
    """Mean loss (nats/char) over `batches` fixed random windows of ids (the same ones every call)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(batches):
        x, y = random_windows(ids, batch, seq_len, rng)
        total += float(lm_loss(model, nerve.tensor(x).to(device), nerve.tensor(y).to(device)))
    model.train(was_training)
    return total / batches


def text_data(config):
    """The built-in corpus as TextData (training head, validation tail); no test set."""
    return corpus(), None


class LanguageModelTraining(Task):
    """config.steps steps on random windows with gradient clipping; the validation loss four times along the way;
    at the end the training loss, the unigram entropy and a sample (also a greedy one with option greedy_sample)."""

    def __init__(self, name, model, data, _unused, config):
        super().__init__(name, model, data, None, config)
        self.data, o = data, config.options
        self.seq_len = int(o["seq_len"])
        self.rng = np.random.default_rng(config.seed)
        self.eval_every = max(1, config.steps // 4)
        self.history = {"step": [], "loss": [], "val_loss": []}
        self.step, self.smooth = 0, None

    def evaluate(self, ids):
        return evaluate_lm(self.model, ids, self.seq_len, self.config.batch_size, int(self.options["eval_batches"]),
                           self.config.device)

    def draw(self):
        x, y = random_windows(self.data.train, self.config.batch_size, self.seq_len, self.rng)
        return nerve.tensor(x).to(self.config.device), nerve.tensor(y).to(self.config.device)

    def train_step(self, batch):
        loss = lm_loss(self.model, *batch)
        self.update(loss, clip=self.config.clip)
        value = float(loss)
        self.smooth = value if self.smooth is None else 0.95 * self.smooth + 0.05 * value
        self.step += 1
        if self.step % self.eval_every == 0 or self.step == self.config.steps:
            self.history["step"].append(self.step)
            self.history["loss"].append(self.smooth)
            self.history["val_loss"].append(self.evaluate(self.data.val))
            return {"loss": f"{self.smooth:.3f}", "val_loss": f"{self.history['val_loss'][-1]:.3f}"}
        chars = self.step * self.config.batch_size * self.seq_len
        return {"loss": f"{self.smooth:.3f}", "chars_s": self.per_second(chars)}

    def report(self, seconds):
        c, o = self.config, self.options
        report = {"train_loss": self.evaluate(self.data.train), "val_loss": self.history["val_loss"][-1],
                  "unigram_entropy": self.data.unigram_entropy(), "steps": c.steps,
                  "chars_per_second": c.steps * c.batch_size * self.seq_len / seconds,
                  "vocab": "".join(self.data.vocab.chars)}
        prompt, length = o["prompt"], int(o["sample_length"])
        report["sample"] = self.model.sample(self.data.vocab, prompt, length, temperature=float(o["temperature"]),
                                             rng=np.random.default_rng(c.seed))
        if o.get("greedy_sample"):  # also the most likely continuation
            report["greedy_sample"] = self.model.sample(self.data.vocab, prompt, length, temperature=0)
        return report

    def summary(self, r):
        c, name = self.config, self.name
        lines = [f"{name}: train loss {r['train_loss']:.3f}, validation loss {r['val_loss']:.3f} nats/char "
                 f"({r['val_loss'] / np.log(2):.3f} bits/char); unigram entropy of the corpus "
                 f"{r['unigram_entropy']:.3f} nats/char",
                 f"{name}: {c.steps} steps of {c.batch_size}x{self.seq_len} chars in {r['seconds']:.1f} s "
                 f"({r['chars_per_second']:.0f} chars/s), {self.trained_with(r)}",
                 f"{name}: sample (temperature {self.options['temperature']}):\n{r['sample']}"]
        if "greedy_sample" in r:
            lines.append(f"{name}: greedy sample:\n{r['greedy_sample']}")
        return lines + [self.checkpoint_line()]
