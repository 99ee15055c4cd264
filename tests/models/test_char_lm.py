"""CharLM and Vocabulary: shapes, saved-state round trip, seeded sampling."""
import numpy as np
import pytest

import nerve
from nerve.models import CharLM, Vocabulary

TEXT = "to be, or not to be: that is the question.\n"


def test_vocabulary_round_trip_and_unknown_character():
    vocab = Vocabulary(TEXT)
    assert len(vocab) == len(set(TEXT)) and vocab.chars == sorted(set(TEXT))
    assert vocab.decode(vocab.encode(TEXT)) == TEXT
    with pytest.raises(ValueError, match="character 'Z' is not in the vocabulary"):
        vocab.encode("Zoo")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_logits_shape_and_state(cell):
    net = CharLM(11, embed_dim=5, hidden_size=7, num_layers=2, cell=cell)
    logits, state = net(nerve.tensor(np.zeros((3, 4), dtype=np.int64)))
    assert logits.shape == (3, 4, 11)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 3, 7)


def test_bad_cell():
    with pytest.raises(ValueError, match="CharLM: argument 'cell' expected 'lstm' or 'gru', got 'rnn'"):
        CharLM(5, cell="rnn")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_saved_state_round_trip(tmp_path, cell):
    vocab = Vocabulary(TEXT)
    net = CharLM(len(vocab), 8, 16, cell=cell)
    ids = nerve.tensor(vocab.encode(TEXT)[None, :])
    nerve.save(net.state_dict(), str(tmp_path / "lm.npz"))
    nerve.manual_seed(1)  # different initial weights
    other = CharLM(len(vocab), 8, 16, cell=cell)
    assert not np.allclose(other(ids)[0].detach().numpy(), net(ids)[0].detach().numpy())
    other.load_state_dict(nerve.load(str(tmp_path / "lm.npz")))
    np.testing.assert_array_equal(other(ids)[0].detach().numpy(), net(ids)[0].detach().numpy())
    assert other.sample(vocab, "to", 30, rng=np.random.default_rng(5)) == \
        net.sample(vocab, "to", 30, rng=np.random.default_rng(5))


def test_sampling_is_deterministic_under_a_seed():
    vocab = Vocabulary(TEXT)
    net = CharLM(len(vocab), 8, 16)
    a = net.sample(vocab, "to be", 40, temperature=1.0, rng=np.random.default_rng(7))
    b = net.sample(vocab, "to be", 40, temperature=1.0, rng=np.random.default_rng(7))
    c = net.sample(vocab, "to be", 40, temperature=1.0, rng=np.random.default_rng(8))
    assert a == b and a != c
    assert a.startswith("to be") and len(a) == 45 and set(a) <= set(TEXT)
    nerve.manual_seed(3)
    d = net.sample(vocab, "to be", 40)  # rng=None: nerve's seeded generator
    nerve.manual_seed(3)
    assert net.sample(vocab, "to be", 40) == d
    greedy = net.sample(vocab, "to be", 10, temperature=0)
    assert greedy == net.sample(vocab, "to be", 10, temperature=0)
    assert net.training  # sample() restores the mode


def test_sampling_matches_the_full_sequence_forward():
    """Feeding one character at a time with the carried state gives the same logits as the whole sequence."""
    vocab = Vocabulary(TEXT)
    net = CharLM(len(vocab), 8, 16, cell="gru")
    ids = vocab.encode(TEXT[:12])
    full, _ = net(nerve.tensor(ids[None, :]))
    state, steps = None, []
    for i in ids:
        out, state = net(nerve.tensor([[int(i)]]), state)
        steps.append(out.detach().numpy()[0, 0])
    np.testing.assert_allclose(np.stack(steps), full.detach().numpy()[0], rtol=1e-4, atol=1e-5)
