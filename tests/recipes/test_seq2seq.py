"""The reversal task of `nerve train seq2seq`."""
import numpy as np

from nerve.models import Seq2SeqTransformer
from nerve.recipes import seq2seq


def test_reversal_batch_and_greedy_decode():
    src, tgt_in, tgt = seq2seq.reversal_batch(np.random.default_rng(0), 5, 6)
    np.testing.assert_array_equal(tgt, src[:, ::-1])
    np.testing.assert_array_equal(tgt_in[:, 0], seq2seq.BOS)
    np.testing.assert_array_equal(tgt_in[:, 1:], tgt[:, :-1])
    net = Seq2SeqTransformer(seq2seq.VOCAB, d_model=16, n_heads=2, n_layers=1, dim_feedforward=32, max_len=7)
    pred = net.greedy_decode(src, 6, seq2seq.BOS)
    assert pred.shape == (5, 6) and pred.dtype == np.int64
