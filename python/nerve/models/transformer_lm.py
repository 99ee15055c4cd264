"""Decoder-only Transformer language model (GPT-style, pre-norm) with weight
tying, and a sequence-to-sequence Transformer for small synthetic tasks."""
import math

import numpy as np

import nerve
from nerve import nn
from nerve.models.language_model import LanguageModel
from nerve.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"CausalSelfAttention: d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        n, t, c = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.n_heads, c // self.n_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (N, heads, T, head_dim)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(n, t, c))


class Block(nn.Module):
    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model),
                                 nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TransformerLM(LanguageModel):
    """ids (N, T) -> logits (N, T, vocab). Token + learned positional embeddings,
    causal blocks, final LayerNorm, output layer tied to the token embedding."""

    def __init__(self, vocab_size, d_model=128, n_heads=4, n_layers=2, context=128, dropout=0.0):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(d_model, n_heads, dropout) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying (Press & Wolf, 2017)
        # GPT-2 init: N(0, 0.02) weights (nn.Embedding's N(0, 1) through the tied head gave initial losses of
        # ~40-70 nats instead of log(vocab)), zero biases, residual projections scaled down by depth.
        for name, p in self.named_parameters():
            if p.ndim == 2:
                residual = name.endswith("proj.weight") or name.endswith("mlp.2.weight")
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layers) if residual else 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, ids):
        n, t = ids.shape
        if t > self.context:
            raise ValueError(f"TransformerLM: sequence length {t} exceeds the context of {self.context}")
        x = self.tok(ids) + self.pos(nerve.arange(t, device=ids.device))
        return self.head(self.ln_f(self.blocks(self.drop(x))))

    def next_logits(self, ids, state):
        """The last `context` ids through the whole model every call (no cache); no state."""
        return self(self._batch_of_one(ids[-self.context:])).numpy()[0, -1].astype(np.float64), None


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder nn.Transformer over small vocabularies: src (N, S), tgt (N, T) -> logits (N, T, vocab)."""

    def __init__(self, vocab_size, d_model=64, n_heads=4, n_layers=2, dim_feedforward=128, max_len=64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.transformer = nn.Transformer(d_model, n_heads, n_layers, n_layers, dim_feedforward, dropout=0.0,
                                          batch_first=True)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, src, tgt):
        s, t = src.shape[1], tgt.shape[1]
        src_x = self.embed(src) + self.pos(nerve.arange(s, device=src.device))
        tgt_x = self.embed(tgt) + self.pos(nerve.arange(t, device=tgt.device))
        causal = nerve.ones(t, t, dtype=nerve.bool_).triu(1)  # True = masked, as nn.Transformer's bool masks
        return self.head(self.transformer(src_x, tgt_x, tgt_mask=causal))

    @nerve.no_grad()
    def greedy_decode(self, src, length, bos):
        """Decode src (N, S) numpy ids greedily, one token at a time from `bos`, for `length` tokens ->
        (N, length) int64 numpy; eval mode meanwhile, the mode is restored after."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        src_t = nerve.tensor(src, device=device)
        out = np.full((len(src), 1), bos, dtype=np.int64)
        for _ in range(length):
            logits = self(src_t, nerve.tensor(out, device=device)).numpy()
            out = np.concatenate([out, logits[:, -1].argmax(-1)[:, None]], axis=1)
        self.train(was_training)
        return out[:, 1:]
