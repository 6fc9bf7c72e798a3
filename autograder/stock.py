"""Scores that STOCK nbgrader (`nbgrader autograde`) wrote to a gradebook, for comparisons.

The engine (`autograder.engine.grading`) must give the same scores as stock nbgrader; the benchmark
(`autograder.bench`) and the end-to-end tests (tests/standard_class.py) read them with these.
"""

from __future__ import annotations

from nbgrader.api import Gradebook


def autograded_score(gradebook_url: str, assignment_id: str, student: str) -> dict[str, float]:
    """grade_id -> points of every autograded cell, as nbgrader stored them."""
    with Gradebook(gradebook_url) as gb:
        sub = gb.find_submission(assignment_id, student)
        return {g.name: g.score for nb in sub.notebooks for g in nb.grades if g.cell.cell_type == "code"}


def gradebook_cell_scores(gradebook_url: str, course_id: str | None = None) -> dict[tuple, float | None]:
    """(assignment, student, notebook, grade_id) -> auto score of every autograded code cell."""
    out: dict[tuple, float | None] = {}
    args = (gradebook_url, course_id) if course_id else (gradebook_url,)
    with Gradebook(*args) as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.cell.cell_type == "code":
                            out[(a.name, sub.student.id, nb.name, g.name)] = g.auto_score
    return out
