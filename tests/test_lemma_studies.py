"""The lemma studies run end to end in quick mode, write their outputs, and resume from their store."""

import numpy as np
import pandas as pd
import pytest

from boundcheck.checks import ROW_COLUMNS, compare_probability, compare_to_bound, verdicts
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
    # sure bounds (failure probability 0, proven) must hold in every cell; exact laws must be recovered
    sure = {"lemma_f_range": ["lemma_B5_deterministic: holds in all", "exact law E[sup f - f(W0)] = C0/2: holds"],
            "lemma_sign_flips": ["exact law E max_W #flips = m erf(C0/sqrt(2m)): holds"],
            "lemma_flip_probability": ["lemma_B6_eq4_paper: holds"]}[name]
    for line in sure:
        assert line in summary, summary
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
    assert row["violations"] == 0 and row["undecided"] == 20 and row["verdict"] == "holds"
    table = pd.DataFrame([compare_to_bound(emp, 10, bound_id="a", direction="upper", failure_probability=0.1),
                          compare_to_bound(emp, 1, bound_id="a", direction="upper", failure_probability=0.1),
                          compare_to_bound(emp, -1, bound_id="b", direction="lower", failure_probability=0.1,
                                           vacuous=True)])
    lines = verdicts(table)
    # a violated cell is reported as violated even when the bound is also vacuous there
    both = pd.DataFrame([compare_to_bound(emp, 3.5, bound_id="v", direction="upper", failure_probability=0.0,
                                          vacuous=True)])
    assert verdicts(both)[0].startswith("v: VIOLATED in 1 of 1 cells")
    assert lines[0] == "a: VIOLATED in 1 of 2 cells (at most 0.05 expected by chance)"
    assert lines[1] == "b: vacuous in all 1 cells"
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
