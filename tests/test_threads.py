"""Native kernels release the GIL and are safe to call from several Python
threads at once: concurrent calls give the serial answers bit for bit (no
shared workspace, no races), and a pure-Python thread keeps running while a
long kernel runs."""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nerve import _C

RNG = np.random.default_rng(0)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def gemm_task(m, n, k, trans_b=False):
    a, b = f32(m, k), f32(n, k) if trans_b else f32(k, n)

    def run():
        out = np.empty((m, n), np.float32)
        _C.gemm(out, a, b, False, trans_b)
        return [out]
    return run


def cross_entropy_task(n, c):
    x, t = f32(n, c), RNG.integers(0, c, n)

    def run():
        loss, lse, gx = np.empty(n, np.float32), np.empty(n), np.empty((n, c), np.float32)
        _C.cross_entropy_forward(loss, lse, x, t, None, -100, 0.1)
        _C.cross_entropy_backward(gx, np.ones(n, np.float32), x, lse, t, None, -100, 0.1)
        return [loss, lse, gx]
    return run


def adam_task(n):
    p0, g = f32(n), f32(n)

    def run():
        p, m, v = p0.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)
        for step in range(1, 4):
            _C.adam_step(p, m, v, None, g, lr=1e-2, weight_decay=0.1, step=step, decoupled=True)
        return [p, m, v]
    return run


def gelu_task(n):
    x = f32(n)

    def run():
        out, gx = np.empty(n, np.float32), np.empty(n, np.float32)
        _C.gelu_forward(out, x, "none")
        _C.gelu_backward(gx, x, x.copy(), "tanh")
        return [out, gx]
    return run


def conv_task():
    import nerve.kernels as K
    x, w = f32(4, 8, 20, 20), f32(16, 8, 3, 3)
    return lambda: [K.conv2d_forward(x, w, stride=1, padding=1)]


def attention_task():
    import nerve.kernels as K
    q, k, v = f32(2, 3, 65, 32), f32(2, 3, 70, 32), f32(2, 3, 70, 32)
    return lambda: list(K.attention_forward(q, k, v, is_causal=False))


# Sizes large enough that each call splits across OpenMP threads inside.
TASKS = [gemm_task(301, 257, 129), gemm_task(64, 513, 200, trans_b=True), gemm_task(7, 9, 1000),
         cross_entropy_task(777, 301), adam_task(300_001), gelu_task(200_003), conv_task(), attention_task()]


def test_concurrent_calls_match_serial():
    tasks = TASKS
    serial = [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            futures = [pool.submit(task) for task in tasks * 2]
            for i, fut in enumerate(futures):
                for got, want in zip(fut.result(), serial[i % len(tasks)]):
                    assert got.tobytes() == want.tobytes(), f"task {i % len(tasks)} differs under concurrency"


def _gil_released_during(call):
    """True when a pure-Python thread ran while `call` was inside native code.

    The switch interval is raised so that the interpreter never preempts the
    calling thread between bytecodes: the watcher can only run while `call`
    has dropped the GIL itself. The watcher gives the GIL back at once with
    time.sleep(0), so the caller never waits for it."""
    import time

    state = {"inside": False, "seen": 0, "stop": False}

    def watch():
        while not state["stop"]:
            if state["inside"]:
                state["seen"] += 1
            time.sleep(0)

    interval = sys.getswitchinterval()
    watcher = threading.Thread(target=watch)
    watcher.start()
    sys.setswitchinterval(100.0)
    # A watcher already waiting for the GIL keeps the old interval as its timeout
    # and would still force a switch: let it run once so it waits anew.
    time.sleep(0.01)
    try:
        for _ in range(20):  # the OS may not schedule the watcher during one call
            state["inside"] = True
            call()
            state["inside"] = False
            if state["seen"]:
                break
    finally:
        state["stop"] = True
        sys.setswitchinterval(interval)
        watcher.join()
    return state["seen"] > 0


LONG_CALLS = {
    "gemm": gemm_task(700, 700, 700),
    "cross_entropy": cross_entropy_task(4000, 1000),
    "adam_step": adam_task(4_000_000),
    "gelu": gelu_task(3_000_000),
}


@pytest.mark.parametrize("name", sorted(LONG_CALLS))
def test_kernels_release_the_gil(name):
    assert _gil_released_during(LONG_CALLS[name]), f"{name} held the GIL for its whole run"


def test_gil_probe_detects_a_call_that_holds_the_gil():
    assert not _gil_released_during(lambda: sum(range(3_000_000)))  # C code that keeps the GIL
