"""``nerve train seq2seq``: reverse a string of random digits with an
encoder-decoder Transformer (a synthetic task).

Tokens 0-9 are the digits and BOS (10) starts every decoder input. Training
draws fresh strings each step (teacher forcing: the decoder reads BOS plus the
reversed string shifted right); the held-out strings are decoded greedily, one
token at a time from BOS, and scored per token and per whole string.
"""
import numpy as np

import nerve
from nerve.nn import functional as F
from nerve.recipes.training import Task

BOS = 10
VOCAB = 11


def reversal_batch(rng, batch, length):
    """src (batch, length) random digits; decoder input BOS + reversed[:-1]; target the reversed string."""
    src = rng.integers(0, 10, size=(batch, length))
    tgt = src[:, ::-1]
    tgt_in = np.concatenate([np.full((batch, 1), BOS), tgt[:, :-1]], axis=1)
    return src, tgt_in, np.ascontiguousarray(tgt)


def reversal_data(config):
    """(None, held-out (src, target)): training strings are drawn fresh every step."""
    o = config.options
    src, _, tgt = reversal_batch(np.random.default_rng(10_000 + config.seed), int(o["test_size"]), int(o["length"]))
    return None, (src, tgt)


class Seq2SeqTraining(Task):
    """config.steps steps of teacher forcing on fresh strings with gradient clipping; then greedy decoding of
    the held-out strings, scored per token and per whole string."""

    def __init__(self, name, model, _unused, test, config):
        super().__init__(name, model, None, test, config)
        self.length = int(config.options["length"])
        self.rng = np.random.default_rng(config.seed)
        self.history = {"loss": [], "accuracy": []}

    def draw(self):
        return [nerve.tensor(a, device=self.config.device)
                for a in reversal_batch(self.rng, self.config.batch_size, self.length)]

    def train_step(self, batch):
        src, tgt_in, tgt = batch
        logits = self.model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1))
        self.update(loss, clip=self.config.clip)
        self.history["loss"].append(float(loss))
        self.history["accuracy"].append(float((logits.detach().argmax(-1) == tgt).float().mean()))
        return {"loss": f"{self.history['loss'][-1]:.4f}", "token_acc": f"{self.history['accuracy'][-1]:.3f}"}

    def report(self, seconds):
        src, tgt = self.test_set
        pred = self.model.greedy_decode(src, self.length, BOS)
        self.example = f"{''.join(map(str, src[0]))} -> {''.join(map(str, pred[0]))}"
        return {"token_accuracy": float((pred == tgt).mean()), "sequence_accuracy": float((pred == tgt).all(1).mean()),
                "train_loss": self.history["loss"][-1], "steps": self.config.steps, "test_samples": len(src)}

    def summary(self, r):
        c, name = self.config, self.name
        return [f"{name}: greedy decoding of {r['test_samples']} held-out strings of {self.length} digits: token "
                f"accuracy {r['token_accuracy'] * 100:.2f}%, whole-string accuracy {r['sequence_accuracy'] * 100:.2f}%",
                f"{name}: {c.steps} steps of {c.batch_size} strings in {r['seconds']:.1f} s, train loss "
                f"{r['train_loss']:.4f}, {self.trained_with(r)}",
                f"{name}: e.g. {self.example}",
                self.checkpoint_line()]
