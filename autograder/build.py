"""`build`: release every assignment with nbgrader (release/ and the gradebook), idempotently."""

from __future__ import annotations

from autograder.coursedir import CourseDir
from autograder.nbgrader_cli import generate_assignment
from course.syllabus import Assignment


def build(course: CourseDir, assignments: list[Assignment], log=print) -> None:
    for a in assignments:
        generate_assignment(course.root, a.id)
        log(f"released {a.id} -> {course.release_notebook(a).relative_to(course.root)}")
