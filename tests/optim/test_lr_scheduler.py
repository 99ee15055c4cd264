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
