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
