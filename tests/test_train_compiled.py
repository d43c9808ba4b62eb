"""The compiled SGD loop (boundcheck._sgd_kernels) against the Python loop and the slow reference trainer,
the projection that stays inside the ball after rounding, and thread-count independence."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import boundcheck as bc
from boundcheck import _train_kernels as _tk
from boundcheck import train as _train
from boundcheck.train import train_adversarial, train_lazy_sgd


def _mnist_like(n=300, d=49, seed=0):
    """Non-negative, correlated inputs (like pixels), so the batch Gram matrix is far from diagonal."""
    gen = np.random.default_rng(seed)
    protos = gen.random((2, d))
    y = gen.choice([-1, 1], n)
    X = np.clip(protos[(y > 0).astype(int)] + 0.3 * gen.standard_normal((n, d)), 0, 1)
    return X, y


def _noop(step, W, b):
    """An on_step callback that does nothing: it makes train_lazy_sgd take its Python loop."""


def _assert_same_run(a, b):
    assert a.steps == b.steps and a.stopped_reason == b.stopped_reason
    np.testing.assert_array_equal(a.W, b.W)
    if a.b is None:
        assert b.b is None
    else:
        np.testing.assert_array_equal(a.b, b.b)
    cols = ["epoch", "steps", "loss", "train_acc", "max_deviation"]
    np.testing.assert_array_equal(a.history[cols].to_numpy(), b.history[cols].to_numpy())
    assert sorted(a.checkpoints) == sorted(b.checkpoints)
    for c0 in a.checkpoints:
        assert a.checkpoints[c0].steps == b.checkpoints[c0].steps
        np.testing.assert_array_equal(a.checkpoints[c0].W, b.checkpoints[c0].W)


# The three implementations call the same compiled step functions (the products through one BLAS, the same
# element-wise kernels, the same exact deviation kernel for every decision), so they agree bit for bit.

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parametrization", ["paper_code", "theory"])  # with and without biases
@pytest.mark.parametrize("shuffle", ["once", "every_epoch"])
# d = 80: the in-place GEMM update and the tracker with K G (d + 1 >= 2 batch); d = 20: the formed update
# U = G^T X_B and the tracker with ||U_s||^2; d = 9: the formed update and every row's exact deviation (2 d <= batch)
@pytest.mark.parametrize("d", [80, 20, 9])
def test_stop_mode_compiled_equals_python_loop_and_reference(dtype, parametrization, shuffle, d):
    X, y = _mnist_like(d=d, seed=5)
    net = bc.init_network(d, 60, parametrization=parametrization, rng=3)
    kw = dict(C0=4.0, lr=0.05, batch_size=32, epochs=40, rng=4, dtype=dtype, shuffle=shuffle)
    ck = (1.0, 1.5, 2.0, 4.0)
    compiled = train_lazy_sgd(net, X, y, checkpoints=ck, eval_train=False, **kw)
    python = train_lazy_sgd(net, X, y, checkpoints=ck, eval_train=False, on_step=_noop, **kw)
    ref = _train._train_lazy_sgd_reference(net, X, y, checkpoints=ck, **kw)
    assert compiled.stopped_reason == "left_ball" and compiled.steps > 50
    _assert_same_run(compiled, python)
    assert compiled.steps == ref["steps"]
    np.testing.assert_array_equal(compiled.W, ref["W"].astype(np.float64))
    for c0 in ck:
        Wc, _, steps = ref["checkpoints"][c0]
        assert compiled.checkpoints[c0].steps == steps
        np.testing.assert_array_equal(compiled.checkpoints[c0].W, Wc.astype(np.float64))
    # the checkpoint at C0 itself is the final state
    np.testing.assert_array_equal(compiled.checkpoints[4.0].W, compiled.W)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parametrization", ["paper_code", "theory"])
@pytest.mark.parametrize("shuffle", ["once", "every_epoch"])
@pytest.mark.parametrize("d", [80, 20, 9])
def test_project_mode_compiled_equals_python_loop_and_reference(dtype, parametrization, shuffle, d):
    X, y = _mnist_like(d=d, seed=6)
    net = bc.init_network(d, 50, parametrization=parametrization, rng=5)
    kw = dict(C0=0.7, lr=0.2, batch_size=32, epochs=6, rng=6, dtype=dtype, mode="project", shuffle=shuffle)
    compiled = train_lazy_sgd(net, X, y, **kw)
    python = train_lazy_sgd(net, X, y, on_step=_noop, **kw)
    ref = _train._train_lazy_sgd_reference(net, X, y, **kw)
    _assert_same_run(compiled, python)
    np.testing.assert_array_equal(compiled.W, ref["W"].astype(np.float64))
    if ref["b"] is not None:
        np.testing.assert_array_equal(compiled.b, ref["b"].astype(np.float64))
    R = 0.7 / np.sqrt(50)
    proj = R * (1 - 1e-5) if dtype == np.float32 else R
    assert ref["max_deviations"].max() >= proj * (1 - 1e-6)  # the projection binds


@pytest.mark.parametrize("mode", ["stop", "project"])
def test_compiled_loop_without_precomputed_pre_activations(monkeypatch, mode):
    # X W0^T computed per step inside the compiled loop, and no scheduled resynchronization
    monkeypatch.setattr(_train, "_Z0_BYTES", 0)
    monkeypatch.setattr(_train, "_SYNC_EVERY", 10 ** 9)
    X, y = _mnist_like(seed=2, d=80)
    net = bc.init_network(80, 40, parametrization="paper_code", rng=7)
    kw = dict(C0=3.0 if mode == "stop" else 0.8, lr=0.05, batch_size=16, epochs=8, rng=8, mode=mode)
    ref = _train._train_lazy_sgd_reference(net, X, y, **kw)
    fast = train_lazy_sgd(net, X, y, eval_train=False, **kw)
    assert fast.steps == ref["steps"] > 50
    np.testing.assert_array_equal(fast.W, ref["W"])
    np.testing.assert_array_equal(fast.b, ref["b"])


def test_compiled_history_losses_are_the_batch_losses():
    """eval_train=False: the history's loss is the mean of the epoch's batch losses, as in the Python loop."""
    X, y = _mnist_like(seed=3, d=20)
    net = bc.init_network(20, 30, parametrization="paper_code", rng=1)
    kw = dict(C0=50.0, lr=0.1, batch_size=32, epochs=3, rng=2, eval_train=False)
    a = train_lazy_sgd(net, X, y, **kw)
    b = train_lazy_sgd(net, X, y, on_step=_noop, **kw)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    assert np.all(np.isfinite(a.history["loss"]))


# ------------------------------------------------------------------------------------------ the projection

def _project_case(dt, w0_scale, radius, has_bias, d=10, m=300, seed=0):
    gen = np.random.default_rng(seed)
    W0 = (w0_scale * (1 + gen.random((m, d)))).astype(dt)
    W = (W0.astype(np.float64) + gen.standard_normal((m, d))).astype(dt)
    b0 = (w0_scale * gen.random(m)).astype(dt) if has_bias else np.zeros(m, dt)
    b = (b0.astype(np.float64) + gen.standard_normal(m)).astype(dt) if has_bias else np.zeros(m, dt)
    return W, W0, b, b0


@pytest.mark.parametrize("dt, w0_scale, radius", [
    (np.float64, 1.0, 0.1),  # an ordinary radius: the plain projection rounds outside by ~1e-16 relative
    (np.float64, 1e3, 1e-11),  # radius far below ||w0||: ulp(w0) ~ 1e-13 is ~1% of the radius
    (np.float64, 1.0, 1e-15),  # radius below ulp(w0): only W0 itself (or nearly) is inside
    (np.float32, 1.0, 1e-6),  # float32: ulp(w0) ~ 1e-7
    (np.float32, 1.0, 0.05),
])
@pytest.mark.parametrize("has_bias", [False, True])
def test_projected_rows_measure_inside_after_rounding(dt, w0_scale, radius, has_bias):
    """Every projected row, as stored in the working dtype, measures <= radius in the exact kernel (the
    plain map W0 + (W - W0) R / ||W - W0|| leaves about half of these rows outside: it rounds each coordinate
    to a multiple of ulp(W0))."""
    W, W0, b, b0 = _project_case(dt, w0_scale, radius, has_bias)
    m = W.shape[0]
    rows = np.arange(m)
    sq = np.empty(m)
    _tk.row_sq_deviation(W, W0, b, b0, has_bias, rows, sq)
    assert np.all(np.sqrt(sq) > radius)  # every row is projected
    before = W.copy()
    assert _tk.project_rows(W, W0, b, b0, has_bias, rows, sq, radius) == m
    after = np.empty(m)
    _tk.row_sq_deviation(W, W0, b, b0, has_bias, rows, after)
    assert np.all(np.sqrt(after) <= radius)
    np.testing.assert_array_equal(sq, after)  # the kernel reports the stored rows' deviations
    # and it is still the projection: the direction is kept and the row is at the radius up to the rounding
    # of W0 + delta f, which is at most sqrt(d + 1) ulp(||w0||) per row (doubling margins: at most 2x that
    # plus the first pass's)
    u = np.finfo(dt).eps / 2
    w0n = np.sqrt((W0.astype(np.float64) ** 2).sum(1) + (b0.astype(np.float64) ** 2 if has_bias else 0))
    slack = 4 * np.sqrt(W.shape[1] + 1) * u * (w0n + np.sqrt(sq.max()) + np.sqrt(((before - W0).astype(
        np.float64) ** 2).sum(1)))
    assert np.all(np.sqrt(after) >= radius - slack)


def test_project_mode_float32_with_a_radius_near_the_rounding_of_w0():
    """float32 project mode where R (1 - 1e-5) is not enough margin for the rounding of w0 + delta f: every
    stored row after every step measures inside in the exact kernel."""
    X, y = _mnist_like(seed=4, d=30)
    net = bc.init_network(30, 40, parametrization="paper_code", rng=3)
    C0 = 40 * 2.0 ** -21  # R = C0 / sqrt(40) = 3.0e-6: ulp(w0) sqrt(d) is a few percent of it (the old
    # projection left rows at 3.096e-6 here)
    R = C0 / np.sqrt(40)
    model = _train._model(net, np.dtype(np.float32))
    seen = []

    def watch(step, W, b):
        seen.append(float(np.sqrt(_train._row_sq(W, model.W0, b, model.b0).max())))

    res = _train.train_lazy_sgd(net, X, y, C0=C0, lr=0.5, batch_size=32, epochs=2, mode="project", rng=0,
                         dtype=np.float32, on_step=watch)
    assert max(seen) <= R
    assert max(seen) >= 0.5 * R  # the projection binds
    fast = train_lazy_sgd(net, X, y, C0=C0, lr=0.5, batch_size=32, epochs=2, mode="project", rng=0,
                          dtype=np.float32)
    np.testing.assert_array_equal(fast.W, res.W)


# ------------------------------------------------------------------------------------------ adversarial

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("projection", ["step", "epoch"])
@pytest.mark.parametrize("parametrization", ["paper_code", "theory"])
def test_adversarial_compiled_sgd_equals_python_loop(dtype, projection, parametrization):
    X, y = _mnist_like(n=120, d=12, seed=7)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    net = bc.init_network(12, 40, parametrization=parametrization, rng=0)
    kw = dict(radius=0.6 / np.sqrt(40), eps=0.1, pgd_steps=4, lr=0.5, batch_size=16, epochs=3, rng=1,
              dtype=dtype, projection=projection)
    a = train_adversarial(net, X, y, **kw)
    b = train_adversarial(net, X, y, on_step=_noop, **kw)
    np.testing.assert_array_equal(a.W, b.W)
    if a.b is not None:
        np.testing.assert_array_equal(a.b, b.b)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    assert (a.history["deviation_over_radius"] <= 1.0).all()
    assert a.history["deviation_over_radius"].max() > 0.99  # the ball binds


# ------------------------------------------------------------------------------------------ threads

_THREAD_SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    import boundcheck as bc
    from boundcheck.train import train_lazy_sgd
    gen = np.random.default_rng(0)
    out = {}
    for d, m in ((20, 300), (50, 250), (300, 200)):  # the three routes of the lazy check (batch 64)
        X = np.clip(gen.random((1, d)) + 0.3 * gen.standard_normal((400, d)), 0, 1)
        y = np.where(X[:, 0] > 0.5, 1.0, -1.0)
        net = bc.init_network(d, m, parametrization="paper_code", rng=1)
        for dtype in (np.float64, np.float32):
            for mode in ("stop", "project"):
                res = train_lazy_sgd(net, X, y, C0=2.0 if mode == "stop" else 0.5, lr=0.2, batch_size=64,
                                     epochs=6, mode=mode, rng=2, dtype=dtype, eval_train=False,
                                     checkpoints=(1.0,) if mode == "stop" else ())
                h = hashlib.sha256(res.W.tobytes() + res.b.tobytes() + str(res.steps).encode())
                out[f"{d}-{m}-{np.dtype(dtype).name}-{mode}"] = h.hexdigest()
    import numba
    from threadpoolctl import threadpool_info
    blas = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    print(json.dumps(dict(hashes=out, numba=numba.config.NUMBA_NUM_THREADS, blas=blas)))
""")


def _run_with_threads(k):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(k), OPENBLAS_NUM_THREADS=str(k), OMP_NUM_THREADS=str(k),
               MKL_NUM_THREADS=str(k))
    proc = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_same_numbers_with_one_and_two_threads():
    """Same seed, same weights bit for bit with 1 and 2 Numba/BLAS threads (real processes; BLAS products
    of 64 x 300 x 300 are split over the threads by OpenBLAS)."""
    one, two = _run_with_threads(1), _run_with_threads(2)
    assert one["numba"] == 1 and two["numba"] == 2
    assert one["blas"] == 1 and two["blas"] == 2
    assert one["hashes"] == two["hashes"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adversarial_default_attack_runs_pgd_in_the_training_dtype(dtype, monkeypatch):
    from boundcheck import attacks

    X, y = _mnist_like(n=80, d=10, seed=8)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    net = bc.init_network(10, 30, parametrization="paper_code", rng=2)
    kw = dict(radius=1.0 / np.sqrt(30), eps=0.2, pgd_steps=5, lr=0.5, batch_size=16, epochs=2, rng=3, dtype=dtype,
              X_test=X[:20], y_test=y[:20])

    def explicit(prec):
        def attack(net, X, y, eps, *, steps, step_size, random_start, box, W, b, rng):
            return attacks.pgd(net, X, y, eps, norm="l2", steps=steps, step_size=step_size,
                               random_start=random_start, box=box, W=W, b=b, rng=rng, dtype=prec).X_adv.reshape(X.shape)
        return attack

    same = train_adversarial(net, X, y, attack=explicit(dtype), **kw)
    other = train_adversarial(net, X, y, attack=explicit(np.float32 if dtype == np.float64 else np.float64), **kw)
    seen = []
    real = attacks.pgd
    monkeypatch.setattr(attacks, "pgd", lambda *a, **k: seen.append(np.dtype(k["dtype"])) or real(*a, **k))
    default = train_adversarial(net, X, y, **kw)
    assert seen and set(seen) == {np.dtype(dtype)}  # training set and test set, every epoch
    np.testing.assert_array_equal(default.W, same.W)
    np.testing.assert_array_equal(default.history["robust_test_acc"], same.history["robust_test_acc"])
    assert not np.array_equal(default.W, other.W)  # the attack's precision reaches the trained weights


def _exactly_inside(W, W0, b, b0, radius) -> np.ndarray:
    """Per row: is ``||[w_s, b_s] - [w0_s, b0_s]|| <= radius`` in exact (rational) arithmetic."""
    from fractions import Fraction

    R2 = Fraction(float(radius)) ** 2
    out = []
    for s in range(W.shape[0]):
        row = [Fraction(float(w)) - Fraction(float(w0)) for w, w0 in zip(W[s], W0[s])]
        if b is not None:
            row.append(Fraction(float(b[s])) - Fraction(float(b0[s])))
        out.append(sum(v * v for v in row) <= R2)
    return np.array(out)


@pytest.mark.parametrize("mode", ["stop", "project"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_trained_rows_are_inside_the_ball_exactly_not_only_as_measured(mode, dtype):
    """The trainers compare measured deviations with R (1 - ball_slack): a row the float kernel reads inside
    is inside exactly. Tiny radius next to weights of norm ~1 (where rounding of w0 + delta is largest)."""
    m, d = 40, 6
    net = bc.init_network(d, m, parametrization="paper_code", rng=11)
    rng = np.random.default_rng(12)
    X = rng.standard_normal((96, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(rng.random(96) < 0.5, 1.0, -1.0)
    C0 = 2.0 ** -20 * np.sqrt(m)  # radius 2**-20, far below ||w0_s|| ~ 1
    lr = 0.5 if mode == "project" else 2e-6  # stop mode: small steps, so that several land inside first
    res = _train.train_lazy_sgd(net, X, y, C0=C0, lr=lr, batch_size=16, epochs=20, mode=mode, rng=13, dtype=dtype)
    model = _train._model(net, np.dtype(dtype))  # the init in the working dtype, as the trainer holds it
    W0 = model.W0.astype(np.float64)
    b0 = None if model.b0 is None else model.b0.astype(np.float64)
    assert res.steps > 0
    assert _exactly_inside(res.W, W0, res.b, b0, res.radius).all()
    if mode == "stop":
        assert res.stopped_reason == "left_ball"
    else:  # the radius was reached: the check is not vacuous
        dev = np.sqrt(((res.W - W0) ** 2).sum(axis=1) + (0 if res.b is None else (res.b - b0) ** 2))
        assert dev.max() > 0.5 * res.radius
