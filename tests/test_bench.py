"""`bench`: stock nbgrader and the engine grade the same class; the benchmark fails on any score difference.

Only correctness is tested here (a tiny class); the timings are printed by
`python -m autograder bench`, never asserted.
"""

from __future__ import annotations

import pytest

from autograder.bench import BenchResult, Run, TreeSampler, compare_scores, format_bench, run_bench
from autograder.coursedir import nbgrader_cells, read_notebook
from course.syllabus import ASSIGNMENTS

pytestmark = pytest.mark.two_cores

FIRST = ASSIGNMENTS[0]


def test_compare_scores_reports_every_difference():
    a = {("01", "s1", "nb", "ex1_test"): 1.0, ("01", "s1", "nb", "ex2_test"): 0.0}
    assert compare_scores({"stock": a, "grade": dict(a)}) == (2, [])
    b = {**a, ("01", "s1", "nb", "ex2_test"): 2.0}
    n, diffs = compare_scores({"stock": a, "grade": b, "nosandbox": {("01", "s1", "nb", "ex1_test"): 1.0}})
    assert n == 2 and len(diffs) == 2
    assert "01/s1/nb/ex2_test: stock 0.0, grade 2.0" in diffs
    assert "01/s1/nb/ex2_test: stock 0.0, nosandbox missing" in diffs


def test_format_bench_says_different_when_scores_differ():
    res = BenchResult(2, 1, [FIRST.id], 2, 2, runs={"grade": Run("grade", 10.0, 1 << 30, 1 << 29)})
    res.cells_compared, res.mismatches = 14, ["01/s1/nb/ex1_test: stock 1.0, grade 0.0"]
    text = "\n".join(format_bench(res))
    assert "scores: DIFFERENT (1 difference(s))" in text and "ex1_test: stock 1.0, grade 0.0" in text


def test_tree_sampler_sees_children():
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, "
                             "'-c', 'import time; x = bytearray(80 << 20); time.sleep(3)'])"])
    sampler = TreeSampler(proc.pid, interval=0.1)
    sampler.start()
    try:
        time.sleep(2)
    finally:
        sampler.stop()
        proc.wait()
    assert sampler.peak_processes >= 2
    assert sampler.peak_rss >= 80 << 20


@pytest.mark.slow
def test_bench_on_a_tiny_class_finds_identical_scores(repo, tmp_path):
    lines = []
    res = run_bench(
        repo, [FIRST], tmp_path / "bench", students=2, seed=0, workers=2, stock_per_submission=True,
        log=lines.append,
    )
    assert res.identical, res.mismatches
    assert set(res.runs) == {"stock", "stock_each", "grade", "nosandbox"}
    tests = sum(1 for c in nbgrader_cells(read_notebook(repo.source_notebook(FIRST))) if c.autograded)
    assert res.cells_compared == 2 * tests  # two students
    assert len(res.records) == 2 and all(r.cell_runs for r in res.records)
    assert all(run.returncode == 0 and run.seconds > 0 and run.peak_rss > 0 for run in res.runs.values())
    text = "\n".join(format_bench(res))
    assert f"scores: identical for all {res.cells_compared} autograded cells" in text
    for figure in ("speed-up, stock / grade", "speed-up, stock one run per submission / grade",
                   "largest speed-up any grader could reach", "compute floor", "sandbox cost",
                   "notebooks/min", "peak RSS"):
        assert figure in text
