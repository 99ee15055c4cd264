"""MultiheadAttention and the Transformer encoder/decoder stacks, with
PyTorch's constructor arguments, parameter names and mask conventions.

Masks follow nn.MultiheadAttention: a bool attn_mask or key_padding_mask
marks positions that may NOT be attended (True = ignore), a float mask is
added to the logits. Internally attn_mask becomes a mask in
scaled_dot_product_attention's convention (bool True = take part) that the
fused kernel reads with broadcasting, and a bool key_padding_mask stays an
(N, S) array that the kernel applies per key, so no (N, L, S) or
(N, H, L, S) mask is built (a float key_padding_mask is added to attn_mask).
With need_weights=True the probabilities are materialized (the unfused
path, as in PyTorch); the Transformer layers pass need_weights=False and
run the fused kernel. Rows whose keys are all masked give zeros (PyTorch:
NaN). is_causal=True without an attn_mask applies the causal mask inside
the kernel (PyTorch raises there); with an attn_mask the mask is used.
kdim/vdim != embed_dim project key and value with their own q/k/v_proj_weight
(PyTorch's names); add_bias_kv appends the learned bias_k/bias_v as one more
key position, add_zero_attn a zero key and value per head (the masks get a
column that lets them take part), as PyTorch does.
"""
import copy
import math

import numpy as np

from nerve import backend
from nerve.nn import functional as F
from nerve.nn import init
from nerve.nn.container import ModuleList
from nerve.nn.dropout import Dropout
from nerve.nn.linear import Linear
from nerve.nn.module import Module
from nerve.nn.layer_norm import LayerNorm
from nerve.nn.parameter import Parameter
from nerve.tensor import Tensor, cat, empty, zeros

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
           "TransformerDecoder", "Transformer"]


def _array(x):
    return x.array if isinstance(x, Tensor) else x


def _merge_masks(attn_mask, key_padding_mask, N, H, L, S, dtype):
    """(mask, key_keep) in the kernel's convention: mask bool (True = take part) or additive float,
    broadcastable to (N, H, L, S); key_keep bool (N, S), True = take part, or None.

    A bool key_padding_mask stays a separate (N, S) array (the kernel applies
    it per key), so no (N, L, S) array is built; a float one is added to
    the attention mask.
    """
    am, kpm = _array(attn_mask), _array(key_padding_mask)
    if am is not None:
        if am.ndim == 2 and tuple(am.shape) != (L, S):
            raise ValueError(f"MultiheadAttention: 2-D attn_mask expected shape ({L}, {S}), got {tuple(am.shape)}")
        if am.ndim == 3:
            if tuple(am.shape) != (N * H, L, S):
                raise ValueError(f"MultiheadAttention: 3-D attn_mask expected shape ({N * H}, {L}, {S}), "
                                 f"got {tuple(am.shape)}")
            am = am.reshape(N, H, L, S)
        elif am.ndim != 2:
            raise ValueError(f"MultiheadAttention: attn_mask must be 2-D or 3-D, got shape {tuple(am.shape)}")
        am = ~am if am.dtype == np.bool_ else am.astype(dtype, copy=False)
    if kpm is None:
        return am, None
    if tuple(kpm.shape) != (N, S):
        raise ValueError(f"MultiheadAttention: key_padding_mask expected shape ({N}, {S}), got {tuple(kpm.shape)}")
    if kpm.dtype == np.bool_:
        return am, ~kpm
    add = kpm.astype(dtype, copy=False).reshape(N, 1, 1, S)
    if am is None:
        return add, None
    xp = backend.of(add).xp
    return (xp.where(am, add, -np.inf).astype(dtype) if am.dtype == np.bool_ else am + add), None


def _pad_key_column(mask):
    """attn_mask (..., S) or key_padding_mask (N, S) with one more key column that takes part
    (False for a bool mask, 0 for an additive one); None stays None."""
    m = _array(mask)
    if m is None:
        return None
    xp = backend.of(m).xp
    return xp.concatenate([m, xp.zeros(m.shape[:-1] + (1,), dtype=m.dtype)], axis=-1)


def _with_key_mask(mask, key_keep):
    """One mask (for the unfused path): key_keep (N, S) folded into mask."""
    if key_keep is None:
        return mask
    keep = key_keep[:, None, None, :]
    if mask is None:
        return keep
    if mask.dtype == np.bool_:
        return mask & keep
    return backend.of(mask).xp.where(keep, mask, -np.inf).astype(mask.dtype)


class MultiheadAttention(Module):
    """Multi-head attention: in_proj_weight (3E, E), in_proj_bias (3E,), out_proj (E -> E).

    forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False) returns
    (output, weights or None). Inputs are (L, N, E), or (N, L, E) with
    batch_first, or unbatched (L, E).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of num_heads "
                             f"({num_heads})")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        kw = dict(dtype=dtype, device=device)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, **kw))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must be all 2-D (unbatched) or all 3-D, "
                             f"got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if batched and not self.batch_first:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        elif not batched:
            query, key, value = (x.unsqueeze(0) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _array(key_padding_mask).reshape(1, -1)
        N, L, E = query.shape
        S = key.shape[1]
        if E != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"MultiheadAttention: expected query, key, value of widths {self.embed_dim}, {self.kdim}, "
                             f"{self.vdim}, got query {tuple(query.shape)}, key {tuple(key.shape)}, "
                             f"value {tuple(value.shape)}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != N:
            raise ValueError(f"MultiheadAttention: key and value must have the same batch and length, got "
                             f"{tuple(key.shape)} and {tuple(value.shape)} for query {tuple(query.shape)}")
        H, hd = self.num_heads, self.head_dim
        b = self.in_proj_bias
        if self._qkv_same_embed_dim:
            weights = [self.in_proj_weight[i * E:(i + 1) * E] for i in range(3)]
        else:
            weights = [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]

        def project(x, i):  # (N, n, in) -> (N, n, E)
            return F.linear(x, weights[i], None if b is None else b[i * E:(i + 1) * E])

        def heads(y):  # (N, n, E) -> (N, H, n, hd)
            return y.reshape(N, y.shape[1], H, hd).transpose(1, 2)

        q, k, v = heads(project(query, 0)), project(key, 1), project(value, 2)
        if self.bias_k is not None:  # one more key position: the learned biases
            k = cat([k, self.bias_k.expand(N, 1, E)], dim=1)
            v = cat([v, self.bias_v.expand(N, 1, E)], dim=1)
            attn_mask, key_padding_mask, S = _pad_key_column(attn_mask), _pad_key_column(key_padding_mask), S + 1
        k, v = heads(k), heads(v)
        if self.add_zero_attn:  # and a zero key and value per head
            k = cat([k, zeros(N, H, 1, hd, dtype=k.dtype, device=k.device)], dim=2)
            v = cat([v, zeros(N, H, 1, hd, dtype=v.dtype, device=v.device)], dim=2)
            attn_mask, key_padding_mask, S = _pad_key_column(attn_mask), _pad_key_column(key_padding_mask), S + 1
        mask, key_keep = _merge_masks(attn_mask, key_padding_mask, N, H, L, S, query.dtype)
        causal = bool(is_causal) and attn_mask is None
        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            out, weights = F.attention_with_weights(q, k, v, _with_key_mask(mask, key_keep), dropout_p, causal,
                                                    1.0 / math.sqrt(hd))
        else:
            out = F.fused_attention(q, k, v, mask, 1.0 / math.sqrt(hd), causal, dropout_p, key_keep)
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, E))
        if weights is not None and average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            return out.squeeze(0), None if weights is None else weights.squeeze(0)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights


def _activation(activation):
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"Transformer: activation should be 'relu', 'gelu' or a callable, got {activation!r}")


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual and a LayerNorm (after, or before
    with norm_first)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention over memory, then feed-forward; residuals and LayerNorms."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer, then an optional norm."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """num_layers deep copies of decoder_layer, then an optional norm."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """Encoder-decoder Transformer (Vaswani et al.), PyTorch's nn.Transformer."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batched = src.ndim == 3
        bdim = 0 if self.batch_first else 1
        if batched and src.shape[bdim] != tgt.shape[bdim]:
            raise RuntimeError("Transformer: the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("Transformer: the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above."""
        m = np.triu(np.full((sz, sz), -np.inf), k=1)
        return Tensor(m, dtype=dtype, device=device)
