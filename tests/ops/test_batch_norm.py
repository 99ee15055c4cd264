"""Autograd through batch_norm: finite-difference gradchecks in float64."""
import numpy as np
import pytest

import nerve
from nerve.nn import functional as F
from nerve.testing import gradcheck


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 3, 3)])
def test_batch_norm_training_gradcheck(rng, shape):
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])


def test_batch_norm_eval_gradcheck_and_no_affine(rng):
    x = rng.standard_normal((3, 2, 4))
    rm, rv = rng.standard_normal(2), rng.random(2) + 0.5
    w, b = rng.standard_normal(2), rng.standard_normal(2)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), [x, w, b])
    assert gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x])
