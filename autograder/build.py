"""`build`: release every assignment with nbgrader (release/ and the gradebook), idempotently."""

from __future__ import annotations

from autograder.coursedir import Assignment, Course
from autograder.nbgrader_cli import generate_assignment


def build(course: Course, assignments: list[Assignment], log=print) -> None:
    for a in assignments:
        generate_assignment(course.root, a.id)
        folder = course.folder("release", ".", a.id)
        log(f"released {a.id} -> {folder.relative_to(course.root)}/ ({', '.join(a.notebooks)})")
