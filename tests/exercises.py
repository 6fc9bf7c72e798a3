"""This course's naming of exercises (``ex3_make_counter``, ``ex3_make_counter_test``), for tests
that check per-exercise outcomes; the engine itself reads exercises from the notebook's structure
(autograder.coursedir.exercises) and needs no naming convention."""

from __future__ import annotations

import re

_EXERCISE = re.compile(r"^(ex\d+)_")


def exercise_of(grade_id: str) -> str | None:
    """`ex3_make_counter_test` -> `ex3`; cells outside exercises (setup) -> None."""
    m = _EXERCISE.match(grade_id)
    return m.group(1) if m else None
