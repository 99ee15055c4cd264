"""What the character language models share: a Vocabulary of characters and
one ``sample`` routine (LanguageModel), which asks the model only for the
next-character logits (``next_logits``)."""
import numpy as np

import nerve
from nerve import nn


class Vocabulary:
    """Characters <-> integer ids, built from a text."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        try:
            return np.array([self.index[c] for c in text], dtype=np.int64)
        except KeyError as e:
            raise ValueError(f"Vocabulary.encode: character {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)


class LanguageModel(nn.Module):
    """A next-token model that can continue a prompt. Subclasses define ``next_logits``."""

    def next_logits(self, ids, state):
        """Logits of the token after ``ids`` (a list of ids, the prompt and what came since) as a float64
        numpy vector, and the state to pass to the next call (None on the first)."""
        raise NotImplementedError

    @nerve.no_grad()
    def sample(self, vocab, prompt, length, temperature=1.0, rng=None):
        """Continue `prompt` by `length` characters, sampling at `temperature` (0 = greedy) with `rng` (a numpy
        Generator; default nerve's seeded one); eval mode meanwhile, the mode is restored after."""
        was_training = self.training
        self.eval()
        rng = nerve.random.generator() if rng is None else rng
        ids, state = list(vocab.encode(prompt)), None
        for _ in range(length):
            logits, state = self.next_logits(ids, state)
            if temperature <= 0:
                ids.append(int(logits.argmax()))
            else:
                p = np.exp((logits - logits.max()) / temperature)
                ids.append(int(rng.choice(len(p), p=p / p.sum())))
        self.train(was_training)
        return vocab.decode(ids)

    def _batch_of_one(self, ids):
        """ids (a list) as a (1, T) int64 tensor on the model's device."""
        return nerve.tensor(np.asarray(ids, dtype=np.int64)[None, :], device=next(self.parameters()).device)
