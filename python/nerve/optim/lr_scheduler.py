"""Learning-rate schedules with PyTorch's names and formulas.

Each scheduler sets ``group['lr']`` from the closed form of its schedule at
``last_epoch`` (the number of ``step()`` calls so far; the constructor makes
the first one, so the lr at construction is the epoch-0 value). Closed forms
equal PyTorch's chained updates as long as nothing else edits the lr.
``get_last_lr()`` returns the lrs of the last step, one per parameter group.

Resuming: ``load_state_dict`` puts the saved lrs (and cycled momenta) back
into the optimizer, so ``opt.load_state_dict(s); sched = StepLR(opt, ...);
sched.load_state_dict(t)`` continues at the lr where the saved run stopped.
The schedules whose epoch-0 value PyTorch takes from the group's current lr
(Step, MultiStep, Exponential, CosineAnnealing, Polynomial, Linear, Constant:
``_keeps_lr = True``) also keep a just-loaded lr at construction, as PyTorch's do.
"""
import bisect
import math

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
           "ReduceLROnPlateau", "OneCycleLR", "LinearLR", "ConstantLR", "PolynomialLR",
           "CosineAnnealingWarmRestarts", "CyclicLR", "SequentialLR", "ChainedScheduler"]


class LRScheduler:
    _keeps_lr = False  # epoch 0 scales the group's current lr (PyTorch's chainable form) instead of initial_lr

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming an "
                                   "optimizer")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        current = [group["lr"] for group in optimizer.param_groups]
        self.step()
        if self._keeps_lr and last_epoch == -1:
            # lr(0) = base * f(0): take f(0) times the current lr, which differs from base only after a
            # load_state_dict of the optimizer (a resumed run).
            for group, lr, base in zip(optimizer.param_groups, current, self.base_lrs):
                group["lr"] = lr * (group["lr"] / base) if base else group["lr"]
            self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def get_lr(self):
        """The lr of every group at self.last_epoch."""
        raise NotImplementedError

    def get_last_lr(self):
        return list(self._last_lr)

    def step(self, epoch=None):
        """Advance one epoch (or, given ``epoch``, jump to it: the closed form allows any, even fractional)."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer (and functions, which cannot be saved)."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "lr_lambdas", "scale_fn") and not callable(v)}

    def load_state_dict(self, state_dict):
        """Restore the schedule's position and put its last lrs back into the optimizer's groups."""
        self.__dict__.update(state_dict)
        self._restore()

    def _restore(self):
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr
        momenta = self.__dict__.get("_last_momentum")
        if momenta is not None:
            for group, m in zip(self.optimizer.param_groups, momenta):
                _set_momentum(group, m)


def _set_momentum(group, m):
    if "betas" in group:
        group["betas"] = (m, *group["betas"][1:])
    else:
        group["momentum"] = m


def _momentum(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""
    _keeps_lr = True

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= epoch)."""
    _keeps_lr = True

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** bisect.bisect_right(self.milestones, self.last_epoch) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""
    _keeps_lr = True

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""
    _keeps_lr = True

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):  # noqa: N803 (PyTorch's name)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); one function, or one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class OneCycleLR(LRScheduler):
    """The 1cycle policy: lr rises from max_lr / div_factor to max_lr over
    pct_start of total_steps, then anneals to that / final_div_factor (three_phase:
    up, back down to the initial lr, then to the minimum). Momentum (or Adam's
    beta1) cycles the other way between max_momentum and base_momentum."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, last_epoch=-1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
            if epochs <= 0 or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive epochs and steps_per_epoch, got {epochs} and {steps_per_epoch}")
            total_steps = epochs * steps_per_epoch
        if total_steps <= 0:
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        if three_phase:
            ends = [float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2, total_steps - 1]
            self._phases = [(ends[0], "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (ends[1], "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                            (ends[2], "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            ends = [float(pct_start * total_steps) - 1, total_steps - 1]
            self._phases = [(ends[0], "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (ends[1], "max_lr", "min_lr", "base_momentum", "max_momentum")]
        groups = optimizer.param_groups
        max_lrs = self._per_group(max_lr, groups, "max_lr")
        if last_epoch == -1:
            for group, lr in zip(groups, max_lrs):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if not all("momentum" in g or "betas" in g for g in groups):
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.use_beta1 = "betas" in groups[0]
            for group, lo, hi in zip(groups, self._per_group(base_momentum, groups, "base_momentum"),
                                     self._per_group(max_momentum, groups, "max_momentum")):
                if last_epoch == -1:
                    self._set_momentum(group, hi)
                group["base_momentum"], group["max_momentum"] = lo, hi
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _per_group(value, groups, name):
        if isinstance(value, (list, tuple)):
            if len(value) != len(groups):
                raise ValueError(f"expected {len(groups)} values for {name}, got {len(value)}")
            return list(value)
        return [value] * len(groups)

    def _set_momentum(self, group, m):
        if self.use_beta1:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
                if step <= end or i == len(self._phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start = end
        if self.cycle_momentum:
            self._last_momentum = [_momentum(g) for g in self.optimizer.param_groups]
        return lrs


class LinearLR(LRScheduler):
    """lr = base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)."""
    _keeps_lr = True

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if not 0 <= end_factor <= 1:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t = min(self.last_epoch, self.total_iters) / self.total_iters if self.total_iters else 1.0
        f = self.start_factor + (self.end_factor - self.start_factor) * t
        return [base * f for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """lr = base_lr * factor for epoch < total_iters, then base_lr."""
    _keeps_lr = True

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 <= factor <= 1:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        f = self.factor if self.last_epoch < self.total_iters else 1.0
        return [base * f for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power."""
    _keeps_lr = True

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        f = (1.0 - min(self.last_epoch, self.total_iters) / self.total_iters) ** self.power
        return [base * f for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2, where the i-th
    cycle lasts T_i = T_0 * T_mult ** i epochs and T_cur counts epochs since its start.
    ``step(epoch)`` takes fractional epochs (``step(epoch + i / iters)`` per batch)."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):  # noqa: N803 (PyTorch's names)
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, last_epoch)

    def _cycle(self, epoch):
        """(T_cur, T_i) at a (possibly fractional) epoch."""
        if epoch < self.T_0:
            return epoch, self.T_0
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_0
        n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
        return epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1), self.T_0 * self.T_mult ** n

    def get_lr(self):
        t_cur, t_i = self._cycle(self.last_epoch)
        self.T_cur, self.T_i = t_cur, t_i
        c = (1 + math.cos(math.pi * t_cur / t_i)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith 2017), stepped per batch: lr goes from base_lr to max_lr over
    step_size_up steps and back over step_size_down, the amplitude scaled by scale_fn(cycle) ('cycle')
    or scale_fn(step) ('iterations'): 'triangular' 1, 'triangular2' 1 / 2 ** (cycle - 1), 'exp_range'
    gamma ** step. Momentum (or Adam's beta1) cycles between max_momentum and base_momentum, inversely."""

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        groups = optimizer.param_groups
        base_lrs = OneCycleLR._per_group(base_lr, groups, "base_lr")
        if last_epoch == -1:
            for group, lr in zip(groups, base_lrs):
                group["lr"] = lr
                group["initial_lr"] = lr
        self.max_lrs = OneCycleLR._per_group(max_lr, groups, "max_lr")
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size, self.step_ratio = up + down, up / (up + down)
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode, self.gamma = mode, gamma
        self.scale_fn = scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else ("iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if not all("momentum" in g or "betas" in g for g in groups):
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.base_momentums = OneCycleLR._per_group(base_momentum, groups, "base_momentum")
            self.max_momentums = OneCycleLR._per_group(max_momentum, groups, "max_momentum")
            if last_epoch == -1:
                for group, m in zip(groups, self.max_momentums):
                    _set_momentum(group, m)
        super().__init__(optimizer, last_epoch)

    def _scale(self, x):
        if self.scale_fn is not None:
            return self.scale_fn(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self._scale(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (top - base) * factor * scale for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            self._last_momentum = [hi - (hi - lo) * factor * scale
                                   for lo, hi in zip(self.base_momentums, self.max_momentums)]
            for group, m in zip(self.optimizer.param_groups, self._last_momentum):
                _set_momentum(group, m)
        return lrs


class SequentialLR(LRScheduler):
    """Run schedulers[0] until milestones[0], then schedulers[1] from its epoch 0, and so on."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError("SequentialLR expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if getattr(s, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR expects all schedulers to belong to the same optimizer, but got "
                                 f"scheduler at index {i} to be different from the optimizer passed in.")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"Sequential Schedulers expects number of schedulers provided to be one more than the "
                             f"number of milestone points, but got number of schedulers {len(schedulers)} and the "
                             f"number of milestones to be equal to {len(milestones)}")
        self.optimizer = optimizer
        self._schedulers, self._milestones = list(schedulers), list(milestones)
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def step(self):
        self.last_epoch += 1
        i = bisect.bisect_right(self._milestones, self.last_epoch)
        s = self._schedulers[i]
        s.last_epoch = self.last_epoch - (self._milestones[i - 1] if i else 0) - 1
        s.step()
        self._last_lr = s.get_last_lr()

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        for s, saved in zip(self._schedulers, state.pop("_schedulers")):
            s.__dict__.update(saved)
        self.__dict__.update(state)
        self._schedulers[bisect.bisect_right(self._milestones, self.last_epoch)]._restore()
        self._restore()


class ChainedScheduler(LRScheduler):
    """Step every scheduler each epoch and apply the product of their factors:
    lr = initial_lr * prod(scheduler lr / scheduler base_lr). For multiplicative
    schedules (Step, MultiStep, Exponential, Linear, Constant, Polynomial, Lambda,
    cosine with eta_min = 0) this equals PyTorch's chained updates."""

    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler expects at least one scheduler to be chained")
        optimizer = optimizer or schedulers[0].optimizer
        for i, s in enumerate(schedulers):
            if getattr(s, "optimizer", None) is not optimizer:
                raise ValueError(f"ChainedScheduler expects all schedulers to belong to the same optimizer, but got "
                                 f"scheduler at index {i} to be different from the optimizer passed in.")
        self.optimizer, self._schedulers = optimizer, list(schedulers)
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self._apply()

    def _apply(self):
        own = [s.get_lr() for s in self._schedulers]  # each schedule's closed form at its epoch
        for k, (group, base) in enumerate(zip(self.optimizer.param_groups, self.base_lrs)):
            lr = base
            for s, lrs in zip(self._schedulers, own):
                lr = lr * (lrs[k] / s.base_lrs[k]) if s.base_lrs[k] else 0.0
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def step(self):
        for s in self._schedulers:
            s.step()
        self._apply()

    state_dict = SequentialLR.state_dict

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        for s, saved in zip(self._schedulers, state.pop("_schedulers")):
            s.__dict__.update(saved)
        self.__dict__.update(state)
        for s in self._schedulers:
            s._restore()  # momenta a child cycles
        self._restore()


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` once the metric passed to ``step(metric)``
    has not improved for ``patience`` epochs (improvement: below best * (1 -
    threshold) in 'min'/'rel' mode; 'abs' mode and 'max' mode as in PyTorch),
    then wait ``cooldown`` epochs. The lr never goes below min_lr, and changes
    smaller than eps are skipped."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode} is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode} is unknown!")
        self.optimizer = optimizer
        self.min_lrs = OneCycleLR._per_group(min_lr, optimizer.param_groups, "min_lr")
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.eps = threshold_mode, cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, a, best):
        if self.mode == "min":
            return a < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics):
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
