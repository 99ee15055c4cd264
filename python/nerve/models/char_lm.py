"""Character-level language model: embedding -> LSTM or GRU -> linear."""
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


class CharLM(nn.Module):
    """ids (N, T) -> logits (N, T, vocab); `cell` is 'lstm' or 'gru'."""

    def __init__(self, vocab_size, embed_dim=64, hidden_size=256, num_layers=1, cell="lstm", dropout=0.0):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"CharLM: argument 'cell' expected 'lstm' or 'gru', got {cell!r}")
        self.cell = cell
        self.embed = nn.Embedding(vocab_size, embed_dim)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                       dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embed(ids), state)
        return self.head(out), state

    @nerve.no_grad()
    def sample(self, vocab, prompt, length, temperature=1.0, rng=None):
        """Continue `prompt` by `length` characters, sampling at `temperature` (0 = greedy)."""
        was_training = self.training
        self.eval()
        rng = nerve.random.generator() if rng is None else rng
        device = next(self.parameters()).device
        ids = vocab.encode(prompt)
        logits, state = self(nerve.tensor(ids[None, :], device=device))
        out = []
        for _ in range(length):
            last = logits.numpy()[0, -1].astype(np.float64)
            if temperature <= 0:
                nxt = int(last.argmax())
            else:
                p = np.exp((last - last.max()) / temperature)
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, state = self(nerve.tensor([[nxt]], device=device), state)
        self.train(was_training)
        return prompt + vocab.decode(out)
