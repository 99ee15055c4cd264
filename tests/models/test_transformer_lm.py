"""TransformerLM (causality, weight tying, init) and Seq2SeqTransformer (shapes, greedy decoding)."""
import numpy as np
import pytest

import nerve
from nerve.models import Vocabulary
from nerve.models.transformer_lm import Seq2SeqTransformer, TransformerLM


def test_changing_a_future_token_leaves_earlier_logits_unchanged(rng):
    net = TransformerLM(13, d_model=16, n_heads=2, n_layers=2, context=10)
    ids = rng.integers(0, 13, size=(2, 10))
    before = net(nerve.tensor(ids)).detach().numpy()
    changed = ids.copy()
    changed[:, 6] = (changed[:, 6] + 1) % 13
    after = net(nerve.tensor(changed)).detach().numpy()
    np.testing.assert_array_equal(after[:, :6], before[:, :6])
    assert not np.allclose(after[:, 6:], before[:, 6:])  # the test can fail: later positions do see it


def test_head_is_tied_to_the_token_embedding():
    net = TransformerLM(13, d_model=16, n_heads=2, n_layers=1, context=8)
    assert net.head.weight is net.tok.weight
    names = [name for name, _ in net.named_parameters()]
    assert sum(name in ("tok.weight", "head.weight") for name in names) == 1
    params = list(net.parameters())
    assert len(params) == len({id(p) for p in params}) == len(names)
    net(nerve.tensor(np.arange(8)[None, :] % 13)).sum().backward()
    assert net.tok.weight.grad is not None  # gets both the embedding's and the head's gradient


def test_initial_loss_is_near_uniform():
    """GPT-2 init: the tied head starts near log(vocab), not at tens of nats (nn.Embedding's N(0, 1))."""
    net = TransformerLM(65, d_model=64, n_heads=4, n_layers=2, context=32)
    ids, targets = (nerve.tensor(a) for a in np.random.default_rng(0).integers(0, 65, size=(2, 4, 32)))
    logits = net(ids)
    loss = nerve.nn.functional.cross_entropy(logits.reshape(-1, 65), targets.reshape(-1))
    assert abs(loss.item() - np.log(65)) < 0.2


def test_context_limit_and_sampling():
    vocab = Vocabulary("abcdefg ")
    net = TransformerLM(len(vocab), d_model=16, n_heads=2, n_layers=1, context=8)
    with pytest.raises(ValueError, match="sequence length 9 exceeds the context of 8"):
        net(nerve.tensor(np.zeros((1, 9), dtype=np.int64)))
    text = net.sample(vocab, "abc", 12, temperature=0.8, rng=np.random.default_rng(1))  # longer than the context
    assert text.startswith("abc") and len(text) == 15
    assert text == net.sample(vocab, "abc", 12, temperature=0.8, rng=np.random.default_rng(1))


def test_seq2seq_forward_shape_and_causal_decoder(rng):
    net = Seq2SeqTransformer(11, d_model=16, n_heads=2, n_layers=1, dim_feedforward=32, max_len=9)
    src, tgt = rng.integers(0, 11, size=(3, 7)), rng.integers(0, 11, size=(3, 5))
    out = net(nerve.tensor(src), nerve.tensor(tgt)).detach().numpy()
    assert out.shape == (3, 5, 11)
    changed = tgt.copy()
    changed[:, 3] = (changed[:, 3] + 1) % 11
    np.testing.assert_allclose(net(nerve.tensor(src), nerve.tensor(changed)).detach().numpy()[:, :3], out[:, :3],
                               rtol=1e-5, atol=1e-6)


def test_greedy_decode_shape_and_mode():
    src = np.random.default_rng(0).integers(0, 10, size=(5, 6))
    net = Seq2SeqTransformer(11, d_model=16, n_heads=2, n_layers=1, dim_feedforward=32, max_len=7)
    pred = net.greedy_decode(src, 6, bos=10)
    assert pred.shape == (5, 6) and pred.dtype == np.int64 and net.training
    np.testing.assert_array_equal(pred, net.greedy_decode(src, 6, bos=10))
