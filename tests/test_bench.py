"""`bench`: stock nbgrader and the engine grade the same class; the benchmark fails on any score difference.

Only correctness is tested here (a tiny class); the timings are printed by
`python -m autograder bench`, never asserted.
"""

from __future__ import annotations

import pytest
from other_course import make_course

from autograder.bench import BenchResult, Run, TreeSampler, compare_scores, format_bench, run_bench
from autograder.coursedir import Course, nbgrader_cells, read_notebook
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


def test_cluster_lines_give_cost_ceiling_and_a_projection_bound_by_the_slower_side():
    from autograder.records import GRADED, CellRun, CellScore, GradeResult

    cell = CellScore("nb", "ex1_test", "code", 1.0, 1.0, 1.0, False)
    # 10 notebooks, each 1.0 s on the worker (0.2 kernel + 0.8 cells)
    records = [
        GradeResult(FIRST.id, f"s{i}", GRADED, cells=[cell], seconds=1.5, kernel_seconds=0.2,
                    cell_runs=[CellRun(0, "ex1_test", True, 0.8, "ok")])
        for i in range(10)
    ]  # fmt: skip
    runs = {"grade": Run("grade", 10.0), "cluster": Run("cluster", 11.0)}
    res = BenchResult(10, 10, [FIRST.id], 2, 2, runs=runs, cluster="--cluster local:2")
    res.records, res.records_cluster, res.cells_compared = records, records, 10
    # the replay recorded 10 notebooks in 5 s on sqlite: 0.5 s each; PostgreSQL was not installed
    res.ceilings = {"sqlite": (10, 5.0), "PostgreSQL": "no PostgreSQL server"}
    text = "\n".join(format_bench(res))
    assert (
        "cluster cost: --cluster local:2 11.0 s vs local pool 10.0 s = +10.0% "
        "(target <= 5% on 2 cores: MISSED)" in text
    )
    assert "coordinator ceiling on sqlite: 500 ms of bookkeeping per notebook" in text
    assert "= 2.0 notebooks/s per coordinator process (target >= 10: MISSED)" in text
    assert "coordinator ceiling on PostgreSQL: not measured (no PostgreSQL server)" in text
    # 8000 notebooks: 8 workers need 1000 s, one coordinator process 4000 s; 8 of them 500 s
    assert "on   8 workers, coordinator 1 core(s):   66.7 min, bound by the coordinator" in text
    assert "on   8 workers, coordinator 8 core(s):   16.7 min, bound by the workers" in text


def test_the_fork_servers_start_up_is_start_up_not_the_first_notebooks_overhead():
    from autograder.records import GRADED, CellRun, GradeResult

    def record(i: int, wait: float) -> GradeResult:  # 1.0 s of work each: 0.1 kernel, 0.8 cells
        return GradeResult(FIRST.id, f"s{i}", GRADED, seconds=1.0 + wait, kernel_seconds=0.1,
                           server_wait_seconds=wait, cell_runs=[CellRun(0, "ex1_test", True, 0.8, "ok")])

    res = BenchResult(4, 4, [FIRST.id], 2, 2, runs={"grade": Run("grade", 10.0)})
    res.records = [record(0, 2.4), record(1, 2.0), record(2, 0.0), record(3, 0.0)]  # fmt: skip
    text = "\n".join(format_bench(res))
    assert "grade: per notebook 1.00 s = kernel start 0.10 s + cells 0.80 s" in text
    assert "overhead per notebook (everything but the cells) 0.20 s" in text
    assert "2 workers busy 2.0 s of the 10.0 s wall time (1.25x the cells' own time)" in text
    assert "which each worker's first notebook waited for: 2.2 s per worker" in text


def test_tree_sampler_sees_children():
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run([sys.executable, "
            "'-c', 'import time; x = bytearray(80 << 20); time.sleep(3)'])",
        ]
    )
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
def test_bench_on_a_tiny_class_finds_identical_scores(tmp_path):
    # The other course (no TensorFlow: seconds, not a minute): every path of the benchmark at its
    # smallest; the figures are not asserted. Scores on this course's notebooks are compared with
    # stock nbgrader by test_grade.
    course = Course(make_course(tmp_path / "stats101"))
    res = run_bench(
        course,
        course.assignments(),
        tmp_path / "bench",
        students=1,
        seed=0,
        workers=1,
        stock_per_submission=True,
        log=[].append,
    )
    assert res.identical, res.mismatches
    assert set(res.runs) == {"stock", "stock_each", "grade", "nosandbox"}
    (ps1,) = course.assignments()
    sources = [read_notebook(course.source_notebook(ps1, nb)) for nb in ps1.notebooks]
    graded_code = sum(1 for nb in sources for c in nbgrader_cells(nb) if c.is_test and c.cell_type == "code")
    assert res.cells_compared == graded_code  # one student, both notebooks, the hand-graded code answer too
    assert len(res.records) == 1 and all(r.cell_runs for r in res.records)
    assert all(run.returncode == 0 and run.seconds > 0 and run.peak_rss > 0 for run in res.runs.values())
    text = "\n".join(format_bench(res))
    assert f"scores: identical for all {res.cells_compared} autograded cells" in text
    for figure in (
        "speed-up, stock / grade",
        "speed-up, stock one run per submission / grade",
        "largest speed-up any grader could reach",
        "compute floor",
        "sandbox cost",
        "notebooks/min",
        "peak RSS",
    ):
        assert figure in text
