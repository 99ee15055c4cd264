"""Hostile arguments for every ``nerve._C`` entry point, from recorded calls.

Small modules run forward and backward once with every ``_C`` function
wrapped, which records one valid raw call per entry point (so each family
joins as soon as its modules use it: conv, pool, batch norm, RNNs, attention,
...). Hypothesis then breaks one array argument of a recorded call at a time
(see test_native.MUTATIONS); the binding must raise a ValueError or TypeError
naming the op and leave the inputs untouched. Replaying the untouched call
must reproduce its outputs bit for bit (no reads of uninitialized memory).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import _C

from .test_native import FUZZ, MUTATIONS

# Entry points with their own hand-written fuzzing in test_native.py.
COVERED = {"gemm", "gelu_forward", "gelu_backward", "sigmoid_forward", "cross_entropy_forward",
           "cross_entropy_backward", "sgd_step", "adam_step"}


def _workloads():
    """Small forward + backward passes through every module family."""
    rng = np.random.default_rng(0)

    def x(*shape):
        return nerve.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)

    def run(module, *inputs):
        out = module(*inputs)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()

    yield lambda: run(nn.Conv2d(4, 6, 3, stride=(2, 1), padding=1, groups=2), x(2, 4, 7, 6))
    yield lambda: run(nn.Sequential(nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(2)), x(2, 3, 9, 8))
    yield lambda: run(nn.BatchNorm2d(3), x(4, 3, 5, 5))
    for cls in (nn.LSTM, nn.GRU, nn.RNN):
        yield lambda cls=cls: run(cls(5, 4), x(3, 2, 5))
    yield lambda: run(nn.LayerNorm(6), x(3, 6))
    yield lambda: run(nn.Embedding(7, 3), nerve.tensor(np.array([[1, 6], [0, 2]])))
    yield lambda: run(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                      x(2, 2, 5, 8), x(2, 2, 6, 8), x(2, 2, 6, 8))


def _optimizer_steps():
    for make in (lambda p: nerve.optim.RMSprop(p, lr=0.1, momentum=0.5, centered=True),
                 lambda p: nerve.optim.Adagrad(p, lr=0.1), lambda p: nerve.optim.Adadelta(p)):
        p = nn.Parameter(nerve.ones(5))
        opt = make([p])
        (p * p).sum().backward()
        opt.step()


def _record():
    calls = {}
    names = [n for n in dir(_C) if not n.startswith("_") and n not in COVERED]
    originals = {n: getattr(_C, n) for n in names}

    def wrap(name, fn):
        def recorder(*args, **kwargs):
            if name not in calls:
                calls[name] = (fn, _copy(args), _copy(kwargs))
            return fn(*args, **kwargs)
        return recorder

    try:
        for n, fn in originals.items():
            setattr(_C, n, wrap(n, fn))
        for work in _workloads():
            try:
                work()
            except AttributeError:
                pass
        _optimizer_steps()
    finally:
        for n, fn in originals.items():
            setattr(_C, n, fn)
    return {n: c for n, c in calls.items() if any(isinstance(a, np.ndarray) for a in list(c[1]) + list(c[2].values()))}


def _copy(obj):
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, tuple):
        return tuple(_copy(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    return obj


CALLS = _record()


def _slots(args, kwargs):
    return [("arg", i) for i, a in enumerate(args) if isinstance(a, np.ndarray)] + \
           [("kw", k) for k, v in kwargs.items() if isinstance(v, np.ndarray)]


def _get(args, kwargs, slot):
    return args[slot[1]] if slot[0] == "arg" else kwargs[slot[1]]


def _fresh(name):
    fn, args, kwargs = CALLS[name]
    return fn, list(_copy(args)), _copy(kwargs)


def _outputs(name):
    """Slots whose contents the valid call changes, and the resulting values."""
    fn, args, kwargs = _fresh(name)
    before = [_get(args, kwargs, s).tobytes() for s in _slots(args, kwargs)]
    fn(*args, **kwargs)
    return {s: _get(args, kwargs, s).copy() for s, b in zip(_slots(args, kwargs), before)
            if _get(args, kwargs, s).tobytes() != b}


def test_recorded_every_family():
    assert {"conv2d_forward", "max_pool2d_forward", "batch_norm_forward", "lstm_forward", "layer_norm_forward",
            "attention_forward", "attention_backward", "embedding_forward"} <= set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_replay_is_reproducible(name):
    first, second = _outputs(name), _outputs(name)
    assert first.keys() == second.keys()
    for slot in first:
        assert first[slot].tobytes() == second[slot].tobytes(), f"{name}: output {slot} differs between replays"


@pytest.mark.parametrize("name", sorted(CALLS))
@FUZZ
@given(data=st.data())
def test_hostile_recorded(name, data):
    outs = set(_outputs(name))
    fn, args, kwargs = _fresh(name)
    slot = data.draw(st.sampled_from(_slots(args, kwargs)))
    kind = data.draw(st.sampled_from(sorted(set(MUTATIONS) - {"flipped"})))
    if kind == "read_only" and slot not in outs:
        return
    bad = MUTATIONS[kind](_get(args, kwargs, slot), data.draw)
    if bad is None:
        return
    if slot[0] == "arg":
        args[slot[1]] = bad
    else:
        kwargs[slot[1]] = bad
    inputs = {s: _get(args, kwargs, s).copy() for s in _slots(args, kwargs)
              if s not in outs and s != slot}
    try:
        fn(*args, **kwargs)
    except (ValueError, TypeError) as e:
        assert name in str(e) or "incompatible function arguments" in str(e)
    else:
        # One more row can be legal (an embedding table, a pooled input whose
        # output size rounds the same); everything else must raise.
        assert kind == "shape", f"{name} accepted a {kind} mutation of argument {slot}"
    for s, v in inputs.items():
        np.testing.assert_array_equal(_get(args, kwargs, s), v, err_msg=f"{name} wrote to input {s}")
