"""Character-level language model: embedding -> LSTM or GRU -> linear."""
import numpy as np

from nerve import nn
from nerve.models.language_model import LanguageModel, Vocabulary  # noqa: F401 (Vocabulary: its old home)


class CharLM(LanguageModel):
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

    def next_logits(self, ids, state):
        """The whole prompt on the first call, then only the newest id with the carried state."""
        fed = ids if state is None else ids[-1:]
        logits, state = self(self._batch_of_one(fed), state)
        return logits.numpy()[0, -1].astype(np.float64), state
