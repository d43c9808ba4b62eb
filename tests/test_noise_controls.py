"""Negative controls of the noise-separability verdicts, and the clustered intervals they rest on.

Fed a deliberately wrong prediction (the other attack's constants, a constant instead of the kernel, the
total-spread law for the within-net spread), every verdict of ``noise_separability_synthetic`` must read
OUTSIDE the CI, or say that it has no power; never "consistent". Run on one cell (d = 64, m = 256) at the study's
*default* settings (number of nets, points, kernel points, confidence), so what is asserted is what the
default run can detect.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from boundcheck.clustered import clustered_proportion_interval, total_sd_interval, within_sd_interval
from boundcheck.stats import clopper_pearson

STUDIES = Path(__file__).resolve().parent.parent / "studies"


def _study(name: str):
    if str(STUDIES) not in sys.path:
        sys.path.insert(0, str(STUDIES))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def synthetic_default_cell(tmp_path_factory):
    mod = _study("noise_separability_synthetic")
    cfg = dataclasses.replace(mod.Config(), dims=(64,), widths=(256,), inputs=("gaussian",), labels=("random",),
                              lp_max_d=0)
    assert (cfg.n_nets, cfg.n_train, cfg.n_test, cfg.confidence) == (
        mod.Config().n_nets, mod.Config().n_train, mod.Config().n_test, mod.Config().confidence)
    return mod, mod.run(cfg, out_dir=tmp_path_factory.mktemp("synthetic"), progress=False)


def test_true_predictions_have_power_at_defaults(synthetic_default_cell):
    mod, res = synthetic_default_cell
    checks = res.extra_tables["checks"].set_index(["check", "norm"])
    for check in ("margin_mean_vs_limit", "margin_mean_vs_reduced_model", "kernel_agreement"):
        for norm in ("l2", "linf"):
            assert checks.loc[(check, norm), "verdict"] == "consistent", (check, norm)
            if check != "kernel_agreement":
                assert checks.loc[(check, norm), "half_width"] < checks.loc[(check, norm), "gap"]


def test_negative_controls_never_read_consistent(synthetic_default_cell):
    mod, res = synthetic_default_cell
    controls = mod.negative_controls(res.table)
    assert len(controls) == len(res.extra_tables["checks"])
    assert set(controls["verdict"]) <= {"outside CI", "no power"}, controls[["check", "norm", "verdict"]]
    by = controls.set_index(["check", "norm"])["verdict"]
    # with power at the default settings: the swapped limits and reduced models, the constant kernel
    for norm in ("l2", "linf"):
        for check in ("margin_mean_vs_limit", "margin_mean_vs_reduced_model", "kernel_agreement"):
            assert by[(check, norm)] == "outside CI", (check, norm)
    # and the study says so in its lines
    line = next(v for v in res.verdicts if v.startswith("negative controls"))
    assert "consistent in 0 of" in line
    swapped = mod.check_lines(mod.judge(res.table, swap=True), swap=True)
    assert any("NEGATIVE CONTROL" in v and "OUTSIDE" in v for v in swapped)


# --------------------------------------------------------------------------- the clustered intervals

def test_total_sd_interval_by_hand():
    g = np.random.default_rng(0).standard_normal((6, 50)) + np.arange(6)[:, None] * 0.1
    iv = total_sd_interval(g, 0.9)
    within = g.var(axis=1, ddof=1).mean()
    between = g.mean(axis=1).var(ddof=1)
    assert iv.estimate == pytest.approx(math.sqrt(within + between))
    assert iv.low == pytest.approx(math.sqrt(within + between * 5 / stats.chi2.isf(0.05, 5)))
    assert iv.high == pytest.approx(math.sqrt(within + between * 5 / stats.chi2.ppf(0.05, 5)))


def test_within_sd_interval_covers_the_truth():
    # K nets with their own offsets and a common within-net sd of 2: the 95% interval covers 2 in about
    # 95% of 400 repetitions (binomial 99.9% band)
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        g = rng.normal(size=(8, 40)) * 2.0 + rng.normal(size=(8, 1)) * 5.0
        hits += within_sd_interval(g, 0.95).contains(2.0)
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 400, 0.95)
    assert lo <= hits <= hi, hits


def test_clustered_proportion_reduces_to_clopper_pearson_without_clustering():
    # identical net means (no between-net variance): the design effect is 1
    g = np.random.default_rng(2).standard_normal((4, 200))
    g -= g.mean(axis=1, keepdims=True)
    ind = g < -1.5
    iv = clustered_proportion_interval(ind, g, 0.95)
    cp = clopper_pearson(int(ind.sum()), ind.size, 0.95)
    assert (iv.low, iv.high) == pytest.approx((float(cp.low), float(cp.high)))
    with pytest.raises(ValueError, match="indicators must have the shape"):
        clustered_proportion_interval(ind[:, :10], g)
    with pytest.raises(ValueError, match="K >= 2 nets"):
        total_sd_interval(g[:1])


# --------------------------------------------------------------------------- mnist_lazy_sgd exponent lines

def _power_law_table(noise: float, sizes=(5, 7, 10, 14, 20, 28), seed: int = 0):
    """A table shaped like mnist_lazy_sgd's with exact power laws in d (times log-normal noise): on raw pixels
    ||x|| ~ d^0.63 and eta* ~ ||x|| / d (1-homogeneous in x), on the sphere ||x|| = 1."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for setting, p_x in (("raw_bias", 0.63), ("sphere_nobias", 0.0)):
        for side in sizes:
            d = side * side
            xn = 2.0 * d ** p_x if p_x else 1.0
            for m in (250, 500, 1000):
                for C0 in (2.0, 10.0):
                    for s in range(2):
                        def q(v):
                            return v * math.exp(noise * rng.standard_normal())
                        rows.append(dict(setting=setting, d=d, m=m, C0=C0, seed=s, x_norm_mean=xn,
                                         grad_norm_mean=q(0.7 * d ** 0.5), eta_mean=q(1.1 * xn / d),
                                         delta_rel_mean=q(0.8 * d ** -0.5)))
    return pd.DataFrame(rows)


def test_exponents_are_predicted_in_the_settings_units():
    mod = _study("mnist_lazy_sgd")
    cfg = mod.Config.quick()
    pooled = mod._pooled_exponents(_power_law_table(0.02), cfg)
    by = pooled.set_index(["setting", "quantity"])
    assert by.loc[("raw_bias", "eta"), "predicted"] == pytest.approx(-1 + 0.63, abs=1e-6)
    assert by.loc[("sphere_nobias", "eta"), "predicted"] == -1.0
    assert (pooled["verdict"] == "consistent").all(), pooled[["setting", "quantity", "exponent", "predicted", "verdict"]]
    lines = mod.exponent_lines(pooled, mod._exponents(_power_law_table(0.02), cfg), cfg)
    raw_eta = next(v for v in lines if v.startswith("exponent_d[raw_bias, eta,"))
    assert "-1 + 0.630" in raw_eta and "||x|| grows like d^0.630" in raw_eta
    assert all("half-width" in v and "gap" in v for v in lines if v.startswith("exponent_d["))


@pytest.mark.parametrize("shift", [0.25, -0.25])
def test_exponent_off_by_a_quarter_reads_outside(shift):
    # the negative control: every prediction moved by 1/4 must read OUTSIDE the CI where the fit has power
    mod = _study("mnist_lazy_sgd")
    cfg = mod.Config.quick()
    table = _power_law_table(0.02)
    pooled = mod._pooled_exponents(table, cfg, shift=shift)
    assert (pooled["verdict"] == "outside CI").all(), pooled[["setting", "quantity", "verdict"]]
    per_width = mod._exponents(table, cfg, shift=shift)
    assert (per_width["verdict"] == "outside CI").all()


def test_exponent_without_power_says_so():
    # noisy data over three dimensions: the interval holds the prediction and a competitor 1/4 away
    mod = _study("mnist_lazy_sgd")
    pooled = mod._pooled_exponents(_power_law_table(0.6, sizes=(5, 6, 7), seed=3), mod.Config.quick())
    assert set(pooled["verdict"]) <= {"no power", "outside CI"}
    assert (pooled["verdict"] == "no power").any()
    shifted = mod._pooled_exponents(_power_law_table(0.6, sizes=(5, 6, 7), seed=3), mod.Config.quick(), shift=0.25)
    assert not (shifted["verdict"] == "consistent").any()


def test_mnist_chain_changes_one_factor_at_a_time():
    mod = _study("noise_separability_mnist")
    cfg = mod.Config()
    specs = {s[0]: s for s in cfg.nets}
    for a, b in zip(cfg.chain[:-1], cfg.chain[1:]):
        assert sum(specs[a][i] != specs[b][i] for i in (2, 3, 4, 5)) == 1, (a, b)
    with pytest.raises(Exception, match="one factor"):
        mod.Config(chain=("free", "rich_x0.1"))
    with pytest.raises(Exception, match="unknown"):
        mod.Config(chain=("free", "nope"))


def test_net_proportion_interval():
    from boundcheck.clustered import net_proportion_interval
    from boundcheck.stats import mean_interval

    rng = np.random.default_rng(5)
    p_net = rng.uniform(0.02, 0.2, size=30)  # nets differ in their rate
    ind = rng.random((30, 500)) < p_net[:, None]
    iv = net_proportion_interval(ind, 0.95)
    ref = mean_interval(ind.mean(axis=1), 0.95)
    assert (iv.low, iv.high, iv.estimate) == pytest.approx((ref.low, ref.high, ref.estimate))
    assert net_proportion_interval(ind[:, :5], 0.95) is None  # too few events per net: not returned
    # coverage of the mean rate over nets: 95% intervals cover 0.11 in about 95% of 300 repetitions
    hits = 0
    for _ in range(300):
        p_net = rng.uniform(0.02, 0.2, size=20)
        hits += net_proportion_interval(rng.random((20, 300)) < p_net[:, None], 0.95).contains(0.11)
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 300, 0.95)
    assert lo <= hits <= hi, hits
