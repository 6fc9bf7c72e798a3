"""A small nbgrader course unlike this repository's, for tests of the engine on any course.

An assignment (ps1) with two notebooks, plain cell names (no ``exN_``), a hand-graded code answer,
a written answer and a task, a data file the notebook reads, three mutants, no TensorFlow (its
kernels preload nothing): the cheapest course that still has every nbgrader cell kind.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CONFIG = """\
import os
c = get_config()
c.CourseDirectory.course_id = "stats101"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "mutants.py", "alternatives.py"]
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
"""


def cell(kind: str, source: str, grade_id: str | None = None, *, solution=False, grade=False, points=0,
         task=False):
    c = new_code_cell(source) if kind == "code" else new_markdown_cell(source)
    if grade_id:
        c.metadata["nbgrader"] = {
            "grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution,
            "schema_version": 3, **({"points": points} if grade or task else {}),
            **({"task": True} if task else {}),
        }  # fmt: skip
    return c


KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def part_a():
    return new_notebook(metadata=KERNEL, cells=[
        cell("markdown", "# Problem set 1, part A"),
        cell("code", "def squares(n):\n    ### BEGIN SOLUTION\n    return [i * i for i in range(n)]\n"
             "    ### END SOLUTION", "squares", solution=True),
        cell("code", 'assert squares(3) == [0, 1, 4], "squares(3)"\n### BEGIN HIDDEN TESTS\n'
             'assert squares(0) == [], "squares(0) is empty"\nassert squares(5)[-1] == 16, "last square"\n'
             "### END HIDDEN TESTS", "check_squares", grade=True, points=2),
        cell("code", "def mean_of_column(path):\n    ### BEGIN SOLUTION\n"
             "    rows = open(path).read().split()[1:]\n"
             "    return sum(float(r) for r in rows) / len(rows)\n    ### END SOLUTION",
             "reader", solution=True),
        cell("code", 'assert abs(mean_of_column("values.csv") - 2.5) < 1e-9, '
             '"the mean of values.csv is 2.5"', "check_reader", grade=True, points=1),
        cell("code", "def describe(xs):\n    ### BEGIN SOLUTION\n    return f'{len(xs)} values'\n"
             "    ### END SOLUTION", "describe_by_hand", solution=True, grade=True, points=3),
    ])  # fmt: skip


def part_b():
    return new_notebook(metadata=KERNEL, cells=[
        cell("markdown", "# Part B"),
        cell("code", "def word_count(text):\n    ### BEGIN SOLUTION\n    return len(text.split())\n"
             "    ### END SOLUTION", "words", solution=True),
        cell("code", 'assert word_count("a b") == 2, "two words"\n### BEGIN HIDDEN TESTS\n'
             'assert word_count("") == 0, "no words"\n### END HIDDEN TESTS', "check_words",
             grade=True, points=2),
        cell("markdown", "Why does `split()` without arguments ignore repeated spaces? It splits on runs "
             "of whitespace.", "why_split", solution=True, grade=True, points=1),
        cell("markdown", "Task: plot `word_count` of each line of a text of your choice (graded by hand).",
             "plot_task", task=True, points=2),
    ])  # fmt: skip


MUTANTS = '''MUTANTS = [
    dict(cell="squares", why="off by one", source="def squares(n):\\n    return [i * i for i in range(1, n + 1)]"),
    dict(cell="reader", why="keeps the header", source="def mean_of_column(path):\\n    return 0.0"),
    dict(cell="words", notebook="part_b", why="counts characters", source="def word_count(text):\\n    return len(text)"),
]
'''  # noqa: E501


def make_course(root: Path) -> Path:
    (root / "source" / "ps1").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    nbformat.write(part_a(), root / "source" / "ps1" / "part_a.ipynb")
    nbformat.write(part_b(), root / "source" / "ps1" / "part_b.ipynb")
    (root / "source" / "ps1" / "values.csv").write_text("value\n1\n2\n3\n4\n")
    (root / "source" / "ps1" / "mutants.py").write_text(MUTANTS)
    return root


def submit(root: Path, student: str, answers: dict[str, str]) -> None:
    for name in ("part_a.ipynb", "part_b.ipynb"):
        nb = nbformat.read(root / "release" / "ps1" / name, as_version=4)
        for c in nb.cells:
            gid = c.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers:
                c.source = answers[gid]
        folder = root / "submitted" / student / "ps1"
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / name)
