"""The lemma studies run end to end in quick mode, write their outputs, and resume from their store."""

import numpy as np
import pandas as pd
import pytest

from boundcheck.checks import SELF_CHECK_HEADING, ROW_COLUMNS, compare_probability, compare_to_bound, verdicts
from boundcheck.cli import run_study

STUDIES = ["lemma_f_range", "lemma_sign_flips", "lemma_flip_probability"]


@pytest.mark.parametrize("name", STUDIES)
def test_study_quick_end_to_end(name, tmp_path):
    result, out = run_study(name, quick=True, out=tmp_path / name, quiet=True)
    for ext in ("csv", "md"):
        assert (out / f"{name}.{ext}").is_file()
    for ext in ("png", "svg"):
        assert (out / f"{name}.{ext}").is_file()
    table = pd.read_csv(out / f"{name}.csv")
    for col in ("bound_id", "n", "mean", "bound", "violations", "rate", "ci_low", "ci_high", "tightness",
                "vacuous", "verdict"):
        assert col in table.columns, col
    assert result.verdicts and all(":" in line for line in result.verdicts)
    summary = (out / "summary.txt").read_text()
    assert summary.splitlines()[0] == f"study {name}"
    # exact laws must be recovered; sure bounds must hold
    sure = {"lemma_f_range": ["exact law E[sup f - f(W0)] = 0.5 C0: consistent in all"],
            "lemma_sign_flips": ["exact law E max_W #flips = m erf(C0/sqrt(2m)): consistent in all"],
            "lemma_flip_probability": ["lemma_B6_eq4_paper: vacuous in 1 of 4 cells; holds in 3"]}[name]
    for line in sure:
        assert line in summary, summary
    # checks that hold by construction are reported apart, under their own heading, never among the verdicts
    if name == "lemma_f_range":
        assert not any(v.startswith("lemma_B5_deterministic") for v in result.verdicts)
        assert result.self_checks[0].startswith("lemma_B5_deterministic: holds in all")
        head = summary.splitlines().index(SELF_CHECK_HEADING + ":")
        assert summary.splitlines()[head + 1].startswith("  lemma_B5_deterministic: holds in all")
    # a second run resumes from the store: same table, nothing recomputed
    again, _ = run_study(name, quick=True, out=tmp_path / name, quiet=True)
    pd.testing.assert_frame_equal(again.table, result.table)
    # report() rebuilds the same table from the stored cells, without recomputing
    from boundcheck.cli import load_study
    rebuilt = load_study(name).report(out)
    pd.testing.assert_frame_equal(rebuilt.table, result.table)
    assert rebuilt.verdicts == result.verdicts


def test_compare_to_bound_counts_and_verdicts():
    emp = np.array([0.0, 1.0, 2.0, 3.0, 4.0] * 20)  # 100 samples, 20 above 3.5
    row = compare_to_bound(emp, 3.5, bound_id="x", direction="upper", failure_probability=0.01)
    assert set(ROW_COLUMNS) <= set(row)
    assert row["violations"] == 20 and row["rate"] == 0.2 and row["verdict"] == "violated"
    row = compare_to_bound(emp, 3.5, bound_id="x", direction="upper", failure_probability=0.3)
    assert row["verdict"] == "holds"  # 20% observed is not significantly above 30%
    row = compare_to_bound(emp, 0.5, bound_id="y", direction="lower", failure_probability=0.01)
    assert row["violations"] == 20
    row = compare_to_bound(emp, 3.5, bound_id="z", direction="upper", failure_probability=0.01, kind="certified")
    # certified on the safe side (valid for every W) and above the bound: undecided, never 'holds'
    assert row["violations"] == 0 and row["undecided"] == 20 and row["verdict"] == "undecided"
    table = pd.DataFrame([compare_to_bound(emp, 10, bound_id="a", direction="upper", failure_probability=0.1),
                          compare_to_bound(emp, 1, bound_id="a", direction="upper", failure_probability=0.1),
                          compare_to_bound(emp, -1, bound_id="b", direction="lower", failure_probability=0.1,
                                           vacuous=True)])
    lines = verdicts(table)
    # a violated cell is reported as violated even when the bound is also vacuous there
    both = pd.DataFrame([compare_to_bound(emp, 3.5, bound_id="v", direction="upper", failure_probability=0.0,
                                          vacuous=True)])
    assert verdicts(both)[0].startswith("v: VIOLATED (")
    assert lines[0].startswith("a: VIOLATED in 1 of 2 cells; holds in 1 (allowed failure rate 0.1; detectable: ")
    assert "by chance" in lines[0]  # a probabilistic bound: a tight bound would be flagged by chance now and then
    assert lines[1].startswith("b: vacuous (")
    # a sure bound crossed beyond rounding is a violation, with no allowance for chance
    sure = pd.DataFrame([compare_to_bound(emp, 3.5, bound_id="s", direction="upper", failure_probability=0.0)])
    assert verdicts(sure)[0].startswith("s: VIOLATED (sure bound") and "chance" not in verdicts(sure)[0]
    with pytest.raises(ValueError, match="direction must be"):
        compare_to_bound(emp, 1, bound_id="a", direction="up", failure_probability=0.1)


def test_compare_probability():
    row = compare_probability(30, 100, 0.1, bound_id="p")
    assert row["verdict"] == "violated" and row["ci_low"] > 0.1
    row = compare_probability(5, 100, 0.1, bound_id="p")
    assert row["verdict"] == "holds" and row["tightness"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="trials must be >= 1"):
        compare_probability(5, 0, 0.1, bound_id="p")
    with pytest.raises(ValueError, match="successes <= trials"):
        compare_probability(11, 10, 0.1, bound_id="p")


def _pair_flips_reference(W0, b0, x, y, R):
    """An independent count in 60-digit arithmetic (mpmath): distance in the plane of (x~, y~) to the wedges."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 60
    X = [mp.mpf(float(t)) for t in x] + ([mp.mpf(1)] if b0 is not None else [])
    Y = [mp.mpf(float(t)) for t in y] + ([mp.mpf(1)] if b0 is not None else [])
    nx = mp.sqrt(sum(t * t for t in X))
    e1 = [t / nx for t in X]
    y1 = sum(a * b for a, b in zip(Y, e1))
    perp = [a - y1 * b for a, b in zip(Y, e1)]
    y2 = mp.sqrt(sum(t * t for t in perp))
    e2 = [t / y2 for t in perp]
    c, s = y1 / mp.sqrt(y1 ** 2 + y2 ** 2), y2 / mp.sqrt(y1 ** 2 + y2 ** 2)

    def dist(p1, p2):  # to the closed cone {p1 >= 0, p . (c, s) <= 0} between the rays (0, -1) and (s, -c)
        if p1 >= 0 and p1 * c + p2 * s <= 0:
            return mp.mpf(0)
        norm = mp.sqrt(p1 * p1 + p2 * p2)
        return min(abs(p1) if p2 <= 0 else norm, abs(p1 * c + p2 * s) if p1 * s - p2 * c >= 0 else norm)

    count = 0
    for s_ in range(W0.shape[0]):
        w = [mp.mpf(float(t)) for t in W0[s_]] + ([mp.mpf(float(b0[s_]))] if b0 is not None else [])
        a, b = sum(p * q for p, q in zip(w, e1)), sum(p * q for p, q in zip(w, e2))
        count += min(dist(a, b), dist(-a, -b)) <= R
    return count


@pytest.mark.parametrize("bias", [False, True])
def test_max_pair_flips_exact_on_nearly_parallel_pairs(bias):
    # issue 10 item 6: d = 10, m = 2000, R = 0.05, y = x + eps u gave the right count at eps = 1e-6 and 0 at
    # eps = 5e-8 (pairs with sin^2 <= 1e-14 were treated as parallel). The count is continuous as eps -> 0+.
    import boundcheck as bc

    d, m, R = 10, 2000, 0.05
    rng = np.random.default_rng(3)
    W0 = rng.standard_normal((1, m, d))
    b0 = rng.standard_normal((1, m)) if bias else None
    net = bc.Network(a=rng.choice([-1.0, 1.0], (1, m)), W0=W0, b0=b0)
    x = bc.sample_sphere(1, d, rng=rng)[0]
    u = rng.standard_normal(d)
    counts = []
    for eps in (1e-1, 1e-3, 1e-6, 5e-8, 1e-10, 1e-13):
        y = x + eps * u
        got = int(bc.max_pair_flips(net, x[None], y[None], R).value[0, 0])
        assert got == _pair_flips_reference(W0[0], None if b0 is None else b0[0], x, y, R), eps
        counts.append(got)
    assert len(set(counts[2:])) == 1 and counts[-1] > 0   # the same count for every tiny eps, not 0
    # exactly parallel pairs, recognized in exact arithmetic
    if not bias:
        assert bc.max_pair_flips(net, x[None], x[None], R).value[0, 0] == 0
        assert bc.max_pair_flips(net, x[None], 4 * x[None], R).value[0, 0] == 0      # 4 x is exact in floats
        with pytest.warns(RuntimeWarning, match="parallel up to the rounding"):   # 3 x is not: labelled
            bc.max_pair_flips(net, x[None], 3 * x[None], R)
        assert bc.max_pair_flips(net, x[None], -2 * x[None], R).value[0, 0] == m
    else:   # x~ = (x, 1) and y~ = (x, 1): identical, never separated
        assert bc.max_pair_flips(net, x[None], x[None], R).value[0, 0] == 0
