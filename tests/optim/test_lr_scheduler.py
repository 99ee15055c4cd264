"""Learning-rate schedulers against the closed forms of PyTorch's schedules."""
import math

import pytest

import nerve
from nerve import nn, optim
from nerve.optim import lr_scheduler as S


def _opt(lr=0.1, groups=1, cls=optim.SGD, **kw):
    params = [{"params": [nn.Parameter(nerve.ones(2))], "lr": lr * (i + 1)} for i in range(groups)]
    return cls(params, lr=lr, **kw)


def _lrs(sched, opt, epochs):
    """lr of every group at epochs 0..epochs-1 (step() after each epoch)."""
    out = []
    for _ in range(epochs):
        out.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == out[-1]
        opt.step()
        sched.step()
    return out


def _close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == pytest.approx(w, rel=1e-12, abs=1e-15)


def test_step_lr():
    opt = _opt(groups=2)
    got = _lrs(S.StepLR(opt, step_size=3, gamma=0.5), opt, 10)
    _close(got, [[b * 0.5 ** (e // 3) for b in (0.1, 0.2)] for e in range(10)])


def test_multistep_lr():
    opt = _opt()
    got = _lrs(S.MultiStepLR(opt, milestones=[5, 2, 7], gamma=0.1), opt, 9)
    _close(got, [[0.1 * 0.1 ** sum(e >= m for m in (2, 5, 7))] for e in range(9)])


def test_exponential_lr():
    opt = _opt()
    _close(_lrs(S.ExponentialLR(opt, gamma=0.9), opt, 6), [[0.1 * 0.9 ** e] for e in range(6)])


def test_cosine_annealing_lr():
    opt = _opt(groups=2)
    got = _lrs(S.CosineAnnealingLR(opt, T_max=10, eta_min=0.001), opt, 15)
    want = [[0.001 + (b - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2 for b in (0.1, 0.2)] for e in range(15)]
    _close(got, want)
    assert got[10][0] == pytest.approx(0.001)


def test_lambda_lr_per_group():
    opt = _opt(groups=2)
    got = _lrs(S.LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: 0.5 ** e]), opt, 5)
    _close(got, [[0.1 / (e + 1), 0.2 * 0.5 ** e] for e in range(5)])
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        S.LambdaLR(opt, [lambda e: 1])


def _onecycle(step, total, max_lr, pct, div, final_div, three_phase=False, cos=True):
    ann = (lambda a, b, p: b + (a - b) / 2 * (math.cos(math.pi * p) + 1)) if cos else (lambda a, b, p: (b - a) * p + a)
    init, low = max_lr / div, max_lr / div / final_div
    if three_phase:
        ends = [pct * total - 1, 2 * pct * total - 2, total - 1]
        lrs = [(init, max_lr), (max_lr, init), (init, low)]
    else:
        ends = [pct * total - 1, total - 1]
        lrs = [(init, max_lr), (max_lr, low)]
    start = 0
    for i, end in enumerate(ends):
        if step <= end or i == len(ends) - 1:
            return ann(*lrs[i], (step - start) / (end - start))
        start = end


@pytest.mark.parametrize("three_phase,strategy", [(False, "cos"), (True, "cos"), (False, "linear")])
def test_one_cycle_lr(three_phase, strategy):
    opt = _opt(momentum=0.9)
    total = 20
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=total, pct_start=0.25, div_factor=10, final_div_factor=100,
                         three_phase=three_phase, anneal_strategy=strategy)
    got = _lrs(sched, opt, total)
    want = [[_onecycle(e, total, 1.0, 0.25, 10, 100, three_phase, strategy == "cos")] for e in range(total)]
    _close(got, want)
    assert got[0][0] == pytest.approx(0.1) and max(g[0] for g in got) == pytest.approx(1.0, rel=1e-2)
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        sched.step()


def test_one_cycle_cycles_momentum_and_betas():
    opt = _opt(momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=5, pct_start=0.5)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)  # max_momentum while the lr is lowest
    for _ in range(4):
        sched.step()
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.85)  # base_momentum at the peak lr
    adam = _opt(cls=optim.Adam, betas=(0.9, 0.99))
    S.OneCycleLR(adam, max_lr=0.01, total_steps=10)
    assert adam.param_groups[0]["betas"] == (0.95, 0.99)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        S.OneCycleLR(_opt(cls=optim.Adagrad), max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(_opt(momentum=0.9), max_lr=0.1)


def test_reduce_lr_on_plateau():
    opt = _opt()
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, threshold=0.1, cooldown=1, min_lr=0.02)
    # 1.0 best; 0.95 is not better by 10% (rel); three bad epochs > patience 2 -> halve.
    lrs = []
    for metric in [1.0, 0.95, 0.93, 0.92, 0.99, 0.99, 0.99, 0.99, 0.5, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99]:
        sched.step(metric)
        lrs.append(sched.get_last_lr()[0])
    assert lrs[:3] == [0.1, 0.1, 0.1]
    assert lrs[3] == pytest.approx(0.05)  # 3rd bad epoch
    assert lrs[4] == pytest.approx(0.05)  # cooldown: the bad count is reset
    assert lrs[7] == pytest.approx(0.025)
    assert lrs[8] == pytest.approx(0.025)  # 0.5 improves
    assert min(lrs) == pytest.approx(0.02)  # never below min_lr
    maxmode = S.ReduceLROnPlateau(_opt(), mode="max", patience=0, threshold_mode="abs", threshold=0.5)
    maxmode.step(1.0)
    maxmode.step(1.4)  # not above 1.0 + 0.5
    assert maxmode.get_last_lr()[0] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(_opt(), factor=1.0)


def test_state_dict_round_trip():
    opt = _opt()
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    sd = sched.state_dict()
    assert sd["last_epoch"] == 3 and "optimizer" not in sd
    opt2 = _opt()
    sched2 = S.StepLR(opt2, step_size=100)
    sched2.load_state_dict(sd)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr() == [0.1 * 0.25]
    lam = S.LambdaLR(_opt(), lambda e: 0.5)
    assert "lr_lambdas" not in lam.state_dict()


def test_resume_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_opt(), step_size=2, last_epoch=4)


# ------------------------------------------------------- the newer schedules
def test_linear_lr():
    opt = _opt(groups=2)
    got = _lrs(S.LinearLR(opt, start_factor=0.25, end_factor=0.75, total_iters=4), opt, 7)
    _close(got, [[b * (0.25 + 0.5 * min(e, 4) / 4) for b in (0.1, 0.2)] for e in range(7)])
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(_opt(), start_factor=0)


def test_constant_lr():
    opt = _opt()
    got = _lrs(S.ConstantLR(opt, factor=0.5, total_iters=3), opt, 6)
    _close(got, [[0.1 * (0.5 if e < 3 else 1.0)] for e in range(6)])


def test_polynomial_lr():
    opt = _opt(groups=2)
    got = _lrs(S.PolynomialLR(opt, total_iters=5, power=2.0), opt, 8)
    _close(got, [[b * (1 - min(e, 5) / 5) ** 2 for b in (0.1, 0.2)] for e in range(8)])


def _sgdr(epoch, base, t0, mult, eta_min):
    """SGDR by walking the cycles: cycle i lasts t0 * mult**i epochs."""
    start, length = 0, t0
    while epoch >= start + length:
        start, length = start + length, length * mult
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * (epoch - start) / length)) / 2


@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_cosine_annealing_warm_restarts(t_mult):
    opt = _opt(groups=2)
    got = _lrs(S.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=t_mult, eta_min=0.01), opt, 30)
    _close(got, [[_sgdr(e, b, 3, t_mult, 0.01) for b in (0.1, 0.2)] for e in range(30)])
    assert got[3][0] == pytest.approx(0.1)  # restart at the end of the first cycle


def test_cosine_annealing_warm_restarts_fractional_epochs():
    opt = _opt()
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    for epoch in (0.25, 1.5, 2.0, 3.75, 6.5):
        sched.step(epoch)
        assert opt.param_groups[0]["lr"] == pytest.approx(_sgdr(epoch, 0.1, 2, 2, 0.0), rel=1e-12)
    with pytest.raises(ValueError, match="T_0"):
        S.CosineAnnealingWarmRestarts(_opt(), T_0=0)


def _cyclic(step, base, top, up, down, scale):
    """Triangle wave: up `up` steps from base to top, down `down` steps, amplitude * scale(cycle index, step)."""
    cycle, pos = divmod(step, up + down)
    frac = pos / up if pos <= up else 1 - (pos - up) / down
    return base + (top - base) * frac * scale(cycle + 1, step)


@pytest.mark.parametrize("mode,scale", [
    ("triangular", lambda c, s: 1.0),
    ("triangular2", lambda c, s: 0.5 ** (c - 1)),
    ("exp_range", lambda c, s: 0.9 ** s),
])
def test_cyclic_lr(mode, scale):
    opt = _opt(momentum=0.9)
    sched = S.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=2, mode=mode, gamma=0.9)
    got = _lrs(sched, opt, 16)
    _close(got, [[_cyclic(e, 0.01, 0.1, 3, 2, scale)] for e in range(16)])
    # momentum mirrors the lr: max_momentum at base_lr, base_momentum at max_lr
    sched.step(1)  # (0.1 - 0.01) * 1/3 into the cycle
    frac = (_cyclic(1, 0.01, 0.1, 3, 2, scale) - 0.01) / 0.09
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.9 - 0.1 * frac)


def test_cyclic_lr_custom_scale_fn_and_betas():
    adam = _opt(cls=optim.Adam)
    sched = S.CyclicLR(adam, 0.001, 0.01, step_size_up=2, scale_fn=lambda x: 0.5, scale_mode="iterations")
    got = _lrs(sched, adam, 5)
    _close(got, [[0.001 + 0.009 * f * 0.5] for f in (0, 0.5, 1, 0.5, 0)])
    # step 5 is half way up the next cycle: beta1 = max_momentum - (max - base) * 0.5 * scale 0.5
    assert adam.param_groups[0]["betas"][0] == pytest.approx(0.9 - 0.1 * 0.5 * 0.5)
    with pytest.raises(ValueError, match="mode is invalid"):
        S.CyclicLR(_opt(momentum=0.9), 0.01, 0.1, mode="sawtooth")


def test_sequential_lr_restarts_each_schedule_at_its_milestone():
    opt = _opt(groups=2)
    warm = S.LinearLR(opt, start_factor=0.1, total_iters=3)
    decay = S.ExponentialLR(opt, gamma=0.5)
    step = S.StepLR(opt, step_size=2, gamma=0.1)
    got = _lrs(S.SequentialLR(opt, [warm, decay, step], milestones=[3, 6]), opt, 10)
    want = []
    for e in range(10):
        f = 0.1 + 0.9 * e / 3 if e < 3 else 0.5 ** (e - 3) if e < 6 else 0.1 ** ((e - 6) // 2)
        want.append([b * f for b in (0.1, 0.2)])
    _close(got, want)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        S.SequentialLR(opt, [warm, decay], milestones=[1, 2])


def test_chained_scheduler_multiplies_the_factors():
    opt = _opt(groups=2)
    got = _lrs(S.ChainedScheduler([S.ConstantLR(opt, factor=0.1, total_iters=2), S.ExponentialLR(opt, gamma=0.9)]),
               opt, 6)
    _close(got, [[b * (0.1 if e < 2 else 1.0) * 0.9 ** e for b in (0.1, 0.2)] for e in range(6)])


# -------------------------------------------- save and resume, every schedule
def _sgd(momentum=0.9):
    return optim.SGD([nn.Parameter(nerve.ones(3))], lr=0.1, momentum=momentum)


SCHEDULES = {
    "StepLR": lambda o: S.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, milestones=[2, 5], gamma=0.3),
    "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.8),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "LambdaLR": lambda o: S.LambdaLR(o, lambda e: 1 / (1 + e)),
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=12),
    "LinearLR": lambda o: S.LinearLR(o, start_factor=0.2, total_iters=6),
    "ConstantLR": lambda o: S.ConstantLR(o, factor=0.25, total_iters=6),
    "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=8, power=1.5),
    "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "CyclicLR": lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2"),
    "SequentialLR": lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=3), S.CosineAnnealingLR(o, 6)], [3]),
    "ChainedScheduler": lambda o: S.ChainedScheduler([S.LinearLR(o, 0.1, total_iters=3), S.ExponentialLR(o, 0.9)]),
    "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=1),
}


def _train(opt, sched, steps, start=0):
    """Steps of (lr, momentum) actually used by the optimizer; the weight moves with a fixed gradient."""
    used = []
    p = opt.param_groups[0]["params"][0]
    for i in range(start, start + steps):
        p.grad = nerve.full((3,), 1.0 + i)
        used.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
        opt.step()
        if isinstance(sched, S.ReduceLROnPlateau):
            sched.step(1.0)  # never improves: the lr halves every other epoch
        else:
            sched.step()
    return used


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_resume_continues_at_the_saved_lr(name, tmp_path):
    """Save after 5 steps, build a fresh optimizer and scheduler, load both, run 6 more: the lrs (and
    momenta, and the weights) equal an uninterrupted run's step for step. Before the fix, building the
    scheduler reset the loaded lr and load_state_dict left it there."""
    whole = _sgd()
    want = _train(whole, SCHEDULES[name](whole), 11)
    first = _sgd()
    sched = SCHEDULES[name](first)
    got = _train(first, sched, 5)
    nerve.save({"optimizer": first.state_dict(), "scheduler": sched.state_dict(),
                "weight": first.param_groups[0]["params"][0]}, tmp_path / "ckpt.npz")
    saved = nerve.load(tmp_path / "ckpt.npz")
    resumed = optim.SGD([nn.Parameter(saved["weight"])], lr=0.1, momentum=0.9)
    resumed.load_state_dict(saved["optimizer"])
    sched = SCHEDULES[name](resumed)
    sched.load_state_dict(saved["scheduler"])
    got += _train(resumed, sched, 6, start=5)
    assert [lr for lr, _ in got] == pytest.approx([lr for lr, _ in want], rel=1e-12)
    assert [m for _, m in got] == pytest.approx([m for _, m in want], rel=1e-12)
    assert resumed.param_groups[0]["params"][0].tolist() == pytest.approx(
        whole.param_groups[0]["params"][0].tolist(), rel=1e-6)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "PolynomialLR"])
def test_building_a_scheduler_keeps_a_loaded_lr(name):
    """PyTorch's epoch-0 value of these schedules is the group's current lr: a scheduler built on a
    just-loaded optimizer must not reset it to initial_lr."""
    first = _sgd()
    sched = SCHEDULES[name](first)
    _train(first, sched, 5)
    lr = first.param_groups[0]["lr"]
    assert lr != pytest.approx(0.1)
    resumed = _sgd()
    resumed.load_state_dict(first.state_dict())
    SCHEDULES[name](resumed)
    assert resumed.param_groups[0]["lr"] == pytest.approx(lr, rel=1e-12)
