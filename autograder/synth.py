"""Synthetic submissions: what a student would hand in, made from the course's own notebooks.

A submission starts from the *release* notebook (so nbgrader's checksums and cell ids are the
ones students get) and fills solution cells with answers: the instructor's solutions, nothing
(the blank release), the wrong answers listed in `source/<assignment>/mutants.py`, or the valid
answers listed in `source/<assignment>/alternatives.py`.
"""

from __future__ import annotations

import copy
import random
import re
import runpy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.coursedir import CourseDir, CourseError, exercise_of, exercise_points, read_notebook
from course.syllabus import Assignment
from course.syllabus import assignment as find_assignment

_MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


@dataclass(frozen=True)
class Mutant:
    """A wrong answer students really write: `source` replaces solution cell `cell`."""

    cell: str
    why: str
    source: str

    @property
    def exercise(self) -> str | None:
        return exercise_of(self.cell)


@dataclass(frozen=True)
class Alternative(Mutant):
    """A valid answer other than the instructor's (another API, order or type the task allows):
    `source` replaces solution cell `cell` and must earn every point."""


def strip_markers(source: str) -> str:
    """The solution as a student would have typed it: the code without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines() if not _MARKER.match(line))


def solution_answers(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the instructor's answer, for every solution cell of a source notebook."""
    answers = {}
    for cell in source_nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            answers[meta["grade_id"]] = strip_markers(cell.source)
    return answers


def fill_in(release_nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the release notebook with the given solution cells answered."""
    nb = copy.deepcopy(release_nb)
    unknown = set(answers)
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
            unknown.discard(grade_id)
    if unknown:
        raise CourseError(f"no solution cell with grade id {sorted(unknown)} in the release")
    return nb


def _load_answers(path: Path, name: str, kind: type[Mutant]) -> list:
    if not path.exists():
        return []
    try:
        entries = runpy.run_path(str(path))[name]
        return [kind(e["cell"], e["why"], e["source"].strip("\n")) for e in entries]
    except (KeyError, TypeError, SyntaxError) as e:
        raise CourseError(f"{path}: expected {name} = [dict(cell=, why=, source=), ...] ({e})") from None


def load_mutants(path: Path) -> list[Mutant]:
    """The wrong answers listed in an assignment's mutants.py (a list of dicts named MUTANTS)."""
    return _load_answers(path, "MUTANTS", Mutant)


def alternatives_file(course: CourseDir, a: Assignment) -> Path:
    """source/<assignment>/alternatives.py, beside mutants.py."""
    return course.mutants_file(a).with_name("alternatives.py")


def load_alternatives(path: Path) -> list[Alternative]:
    """The valid answers listed in an assignment's alternatives.py (a list named ALTERNATIVES)."""
    return _load_answers(path, "ALTERNATIVES", Alternative)


@dataclass(frozen=True)
class Profile:
    """One synthetic student: which answers they give and which exercises they get wrong."""

    name: str
    answers: dict[str, str]
    wrong_exercises: frozenset[str]
    blank: bool = False


def standard_profiles(course: CourseDir, a: Assignment) -> list[Profile]:
    """The three students of the end-to-end check: solution, blank, typical mistakes.

    The mistakes student makes the first listed wrong answer in every other exercise, so the
    points it loses are exactly those exercises' points if the exercises are independent.
    """
    solution = solution_answers(read_notebook(course.source_notebook(a)))
    mutants = load_mutants(course.mutants_file(a))
    first_per_exercise: dict[str, Mutant] = {}
    for m in mutants:
        first_per_exercise.setdefault(m.exercise, m)
    chosen = list(first_per_exercise.values())[::2]
    mistakes = dict(solution)
    mistakes.update({m.cell: m.source for m in chosen})
    return [
        Profile("solution", solution, frozenset()),
        Profile("blank", {}, frozenset(), blank=True),
        Profile("mistakes", mistakes, frozenset(m.exercise for m in chosen)),
    ]


def write_submission(course: CourseDir, a: Assignment, student: str, nb) -> Path:
    path = course.submitted_notebook(a, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# --- synthetic classes ------------------------------------------------------------------------

SOLUTION, BLANK, MISTAKES, TAMPERED, BROKEN = "solution", "blank", "mistakes", "tampered", "broken"

# A cheat that makes stock nbgrader award points for failing tests: every later exception is
# swallowed, so no error output reaches the notebook. The guard restores the handler before each
# test cell and flags the submission.
CHEAT = (
    "\n\n# make failing tests look passed\n"
    "get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)\n"
)


@dataclass(frozen=True)
class SyntheticSubmission:
    """One student's hand-in for one assignment, and what it should score.

    `kind`: SOLUTION (the instructor's answers), BLANK (the release as is), MISTAKES (wrong answers
    from mutants.py in some exercises, maybe others left unanswered), TAMPERED (mistakes plus a
    cheat: the guard must flag it), BROKEN (an unreadable file: grading must fail it with a reason).
    `expected`: autograded points it deserves when every mutant loses exactly its exercise's
    points (what `python -m autograder check` proves); None for TAMPERED and BROKEN.
    """

    assignment: str
    student: str
    kind: str
    mutants: tuple[Mutant, ...] = ()
    unanswered: tuple[str, ...] = ()  # exercises left as released (code stub)
    expected: float | None = None
    answers: dict[str, str] | None = None  # grade_id -> answer; None: the release unchanged
    raw: str | None = None  # the file's text instead of a notebook (BROKEN)

    @property
    def wrong_exercises(self) -> frozenset[str]:
        return frozenset(m.exercise for m in self.mutants) | frozenset(self.unanswered)


def class_roster(students: int) -> list[str]:
    """Student ids of a synthetic class: s001, s002, ..."""
    return [f"s{i:03d}" for i in range(1, students + 1)]


def synthetic_class(
    course: CourseDir,
    assignments: list[Assignment],
    students: int = 30,
    *,
    seed: int = 0,
    adversarial: bool = True,
) -> list[SyntheticSubmission]:
    """A class of `students` students handing in every assignment, deterministic from `seed`.

    Most students make one to four of the wrong answers listed in mutants.py (in distinct
    solution cells, so several exercises go wrong at once) and some leave an exercise
    unanswered; a few hand in the solution, a few the blank release. With `adversarial`, in each
    assignment one student cheats (TAMPERED) and one hands in a broken file (BROKEN) (classes of
    at least 5 students).
    """
    subs: list[SyntheticSubmission] = []
    roster = class_roster(students)
    for a in assignments:
        source = read_notebook(course.source_notebook(a))
        solution = solution_answers(source)
        points = exercise_points(source)
        total = sum(points.values())
        by_cell: dict[str, list[Mutant]] = {}
        for m in load_mutants(course.mutants_file(a)):
            if m.cell in solution and m.exercise in points:
                by_cell.setdefault(m.cell, []).append(m)
        exercise_cells: dict[str, list[str]] = {}
        for grade_id in solution:
            ex = exercise_of(grade_id)
            if ex in points:
                exercise_cells.setdefault(ex, []).append(grade_id)
        rng = random.Random(f"{seed}:{a.id}")
        special: dict[str, str] = {}
        if adversarial and students >= 5:
            cheat, broken = rng.sample(roster, 2)
            special = {cheat: TAMPERED, broken: BROKEN}
        for student in roster:
            r = random.Random(f"{seed}:{a.id}:{student}")
            kind = special.get(student) or r.choices([SOLUTION, BLANK, MISTAKES], weights=[3, 1, 16])[0]
            if kind == SOLUTION:
                subs.append(SyntheticSubmission(a.id, student, kind, expected=total, answers=dict(solution)))
                continue
            if kind == BLANK:
                subs.append(SyntheticSubmission(a.id, student, kind, expected=0.0))
                continue
            if kind == BROKEN:
                text = nbformat.writes(fill_in(read_notebook(course.release_notebook(a)), solution))
                subs.append(SyntheticSubmission(a.id, student, kind, raw=text[: len(text) // 3]))
                continue
            cells = sorted(by_cell)
            k = min(len(cells), r.choices([1, 2, 3, 4], weights=[4, 4, 2, 1])[0])
            mutants = tuple(r.choice(by_cell[c]) for c in sorted(r.sample(cells, k)))
            hit = {m.exercise for m in mutants}
            free = sorted(set(exercise_cells) - hit)
            unanswered = tuple(sorted(r.sample(free, 1))) if free and r.random() < 0.25 else ()
            answers = dict(solution)
            answers.update({m.cell: m.source for m in mutants})
            for ex in unanswered:
                for grade_id in exercise_cells[ex]:
                    del answers[grade_id]
            lost = sum(points[e] for e in hit | set(unanswered))
            expected = None if kind == TAMPERED else total - lost
            if kind == TAMPERED:
                answers[mutants[0].cell] += CHEAT
            subs.append(SyntheticSubmission(a.id, student, kind, mutants, unanswered, expected, answers))
    return subs


def write_class(course: CourseDir, subs: list[SyntheticSubmission]) -> None:
    """Put every submission in ``submitted/<student>/<assignment>/`` as a student would."""
    releases: dict[str, nbformat.NotebookNode] = {}
    for s in subs:
        a = find_assignment(s.assignment)
        path = course.submitted_notebook(a, s.student)
        path.parent.mkdir(parents=True, exist_ok=True)
        if s.raw is not None:
            path.write_text(s.raw)
            continue
        if s.assignment not in releases:
            releases[s.assignment] = read_notebook(course.release_notebook(a))
        nb = releases[s.assignment]
        nbformat.write(fill_in(nb, s.answers) if s.answers else copy.deepcopy(nb), path)
