"""nerve.amp.GradScaler: PyTorch's dynamic loss scaling (scale, unscale_, step skipping on inf/nan,
backoff and growth, state_dict), and a pass-through with scale 1 when disabled (bf16 needs none)."""
import numpy as np
import pytest

import nerve
from nerve import nn


def _model():
    nerve.manual_seed(0)
    model = nn.Linear(3, 2)
    return model, nerve.optim.SGD(model.parameters(), lr=0.1)


def _params(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_disabled_is_a_pass_through():
    model, opt = _model()
    scaler = nerve.amp.GradScaler("cpu", enabled=False)
    assert not scaler.is_enabled() and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    loss = model(nerve.ones(1, 3)).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    before = _params(model)
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    for p, b, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(p.detach().numpy(), b - 0.1 * g, rtol=1e-6)


def test_scale_unscale_and_step():
    model, opt = _model()
    scaler = nerve.amp.GradScaler("cpu", init_scale=1024.0)
    assert scaler.is_enabled() and scaler.get_scale() == 1024.0
    x = nerve.ones(1, 3)
    loss = model(x).sum()
    scaled = scaler.scale(loss)
    assert scaled.item() == pytest.approx(1024.0 * loss.item(), rel=1e-6)
    assert scaler.scale([loss, (loss,)])[1][0].item() == pytest.approx(scaled.item())
    scaled.backward()
    assert model.weight.grad.numpy() == pytest.approx(np.full((2, 3), 1024.0))
    scaler.unscale_(opt)
    np.testing.assert_allclose(model.weight.grad.numpy(), np.ones((2, 3)))  # true gradients, e.g. to clip
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    before = _params(model)
    scaler.step(opt)  # no second unscale
    np.testing.assert_allclose(model.weight.detach().numpy(), before[0] - 0.1, rtol=1e-6)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 1024.0


def _step_with_grads(scaler, model, opt, value):
    """One scaled step where the parameters' gradients are `value` * scale (inf/nan injected as they are)."""
    opt.zero_grad()
    for p in model.parameters():
        p.grad = nerve.full(tuple(p.shape), value * scaler.get_scale() if np.isfinite(value) else value)
    result = scaler.step(opt)
    scaler.update()
    return result


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_inf_or_nan_skips_the_step_and_backs_off(bad):
    model, opt = _model()
    scaler = nerve.amp.GradScaler("cpu", init_scale=256.0, backoff_factor=0.25)
    before = _params(model)
    _step_with_grads(scaler, model, opt, bad)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), b)  # skipped
    assert scaler.get_scale() == 64.0
    _step_with_grads(scaler, model, opt, 1.0)
    np.testing.assert_allclose(model.weight.detach().numpy(), before[0] - 0.1, rtol=1e-6)  # taken, unscaled
    assert scaler.get_scale() == 64.0


def test_growth_after_interval_of_clean_steps_and_reset_by_inf():
    model, opt = _model()
    scaler = nerve.amp.GradScaler("cpu", init_scale=8.0, growth_factor=2.0, growth_interval=3)
    for _ in range(2):
        _step_with_grads(scaler, model, opt, 0.0)
    assert scaler.get_scale() == 8.0
    _step_with_grads(scaler, model, opt, 0.0)
    assert scaler.get_scale() == 16.0  # three clean steps in a row
    _step_with_grads(scaler, model, opt, 0.0)
    _step_with_grads(scaler, model, opt, 0.0)
    _step_with_grads(scaler, model, opt, np.inf)  # resets the count and halves
    assert scaler.get_scale() == 8.0
    for _ in range(2):
        _step_with_grads(scaler, model, opt, 0.0)
    assert scaler.get_scale() == 8.0
    _step_with_grads(scaler, model, opt, 0.0)
    assert scaler.get_scale() == 16.0


def test_float16_toy_overflow_is_caught():
    """A float16 loss whose scaled gradient overflows float16 (max 65504): the step is skipped and the
    scale backs off until the float16 gradient fits, then training proceeds."""
    w = nerve.nn.Parameter(nerve.tensor([0.5, -0.25]))
    opt = nerve.optim.SGD([w], lr=0.01)
    scaler = nerve.amp.GradScaler("cpu", init_scale=2.0 ** 16)
    skipped = 0
    for _ in range(8):
        opt.zero_grad()
        loss = (w.half() * 4.0).sum()  # d loss / d w = 4, computed in float16
        assert loss.dtype == nerve.float16
        scaler.scale(loss).backward()  # 4 * scale overflows float16 while scale >= 2^14
        before = w.detach().numpy().copy()
        scaler.step(opt)
        scaler.update()
        skipped += int(np.array_equal(w.detach().numpy(), before))
    assert skipped == 3 and scaler.get_scale() == 2.0 ** 13  # 2^16, 2^15, 2^14 overflowed
    assert w.grad.dtype == nerve.float32


def test_state_dict_round_trip_and_errors():
    scaler = nerve.amp.GradScaler("cpu", init_scale=32.0, growth_interval=5)
    model, opt = _model()
    _step_with_grads(scaler, model, opt, 1.0)
    sd = scaler.state_dict()
    assert sd == {"scale": 32.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 5,
                  "_growth_tracker": 1}
    other = nerve.amp.GradScaler("cpu")
    other.load_state_dict(sd)
    assert other.state_dict() == sd
    with pytest.raises(RuntimeError, match="empty"):
        other.load_state_dict({})
    with pytest.raises(RuntimeError, match="no inf checks"):
        nerve.amp.GradScaler("cpu").update()
    scaler.update(new_scale=4.0)
    assert scaler.get_scale() == 4.0


def test_cuda_spellings_disable_without_a_gpu():
    if nerve.cuda.is_available():
        pytest.skip("a GPU is visible: the CUDA scaler stays enabled")
    with pytest.warns(UserWarning, match="not available"):
        scaler = nerve.cuda.amp.GradScaler()
    assert not scaler.is_enabled() and scaler.get_scale() == 1.0
    with pytest.warns(UserWarning, match="not available"):
        assert not nerve.amp.GradScaler().is_enabled()  # PyTorch's default device is cuda too
