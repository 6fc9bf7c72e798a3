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

from autograder.coursedir import Assignment, Course, CourseError, exercises, read_notebook

_MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


@dataclass(frozen=True)
class Mutant:
    """A wrong answer students really write: `source` replaces solution cell `cell` (of notebook
    `notebook`, needed only when the assignment has several notebooks)."""

    cell: str
    why: str
    source: str
    notebook: str | None = None


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
        return [kind(e["cell"], e["why"], e["source"].strip("\n"), e.get("notebook")) for e in entries]
    except (KeyError, TypeError, SyntaxError) as e:
        raise CourseError(f"{path}: expected {name} = [dict(cell=, why=, source=), ...] ({e})") from None


def load_mutants(path: Path) -> list[Mutant]:
    """The wrong answers listed in an assignment's mutants.py (a list of dicts named MUTANTS)."""
    return _load_answers(path, "MUTANTS", Mutant)


def alternatives_file(course: Course, a: Assignment) -> Path:
    """source/<assignment>/alternatives.py, beside mutants.py."""
    return course.alternatives_file(a)


def load_alternatives(path: Path) -> list[Alternative]:
    """The valid answers listed in an assignment's alternatives.py (a list named ALTERNATIVES)."""
    return _load_answers(path, "ALTERNATIVES", Alternative)


Cell = tuple[str, str]  # (notebook file name, grade id)


class Authoring:
    """One assignment's authoring files, read once: its source and release notebooks and exercises.

    Cells are named by (notebook, grade id): grade ids are unique within a notebook only. An
    exercise (`autograder.coursedir.Exercise`) is keyed by its label, prefixed with the notebook's
    name when the assignment has several notebooks (``part2:ex1``). `points` holds the exercises
    with autograded points; hand-graded cells are left to formgrader and to nobody here.
    """

    def __init__(self, course: Course, a: Assignment) -> None:
        self.course, self.assignment = course, a
        self.sources = {n: read_notebook(course.source_notebook(a, n)) for n in a.notebooks}
        self._releases: dict[str, nbformat.NotebookNode] | None = None
        self.solutions: dict[Cell, str] = {}
        self.exercise_of: dict[Cell, str] = {}
        self.autograded: set[Cell] = set()
        self.points: dict[str, float] = {}
        for name, nb in self.sources.items():
            for gid, answer in solution_answers(nb).items():
                self.solutions[(name, gid)] = answer
            for ex in exercises(nb):
                key = ex.label if len(a.notebooks) == 1 else f"{Path(name).stem}:{ex.label}"
                for cell in ex.cells:
                    self.exercise_of[(name, cell.grade_id)] = key
                    if cell.autograded:
                        self.autograded.add((name, cell.grade_id))
                if ex.autograded_points > 0:
                    self.points[key] = ex.autograded_points

    @property
    def releases(self) -> dict[str, nbformat.NotebookNode]:
        if self._releases is None:
            self._releases = {
                n: read_notebook(self.course.release_notebook(self.assignment, n))
                for n in self.assignment.notebooks
            }
        return self._releases

    def locate(self, cell: str, notebook: str | None = None) -> Cell | None:
        """The solution cell an entry of mutants.py/alternatives.py names (None: no such cell)."""
        names = (
            [notebook if notebook and notebook.endswith(".ipynb") else f"{notebook}.ipynb"]
            if notebook
            else None
        )
        found = [c for c in self.solutions if c[1] == cell and (names is None or c[0] in names)]
        return found[0] if len(found) == 1 else None

    def exercise(self, answer: Mutant) -> str | None:
        where = self.locate(answer.cell, answer.notebook)
        return self.exercise_of.get(where) if where else None

    def filled(self, answers: dict[Cell, str] | None) -> dict[str, nbformat.NotebookNode]:
        """The release notebooks with `answers` filled in (None: the release as is)."""
        out = {}
        for name, nb in self.releases.items():
            mine = {gid: text for (n, gid), text in (answers or {}).items() if n == name}
            out[name] = fill_in(nb, mine) if mine else copy.deepcopy(nb)
        return out

    def write(self, student: str, answers: dict[Cell, str] | None) -> None:
        """Hand in `answers` as `student` (``submitted/<student>/<assignment>/``)."""
        for name, nb in self.filled(answers).items():
            path = self.course.submitted_notebook(self.assignment, student, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, path)


@dataclass(frozen=True)
class Profile:
    """One synthetic student: which answers they give and which exercises they get wrong."""

    name: str
    answers: dict[str, str]
    wrong_exercises: frozenset[str]
    blank: bool = False


def standard_profiles(course: Course, a: Assignment) -> list[Profile]:
    """The three students of the end-to-end check of a one-notebook assignment: solution, blank,
    typical mistakes (answers by grade id).

    The mistakes student makes the first listed wrong answer in every other exercise, so the
    points it loses are exactly those exercises' points if the exercises are independent.
    """
    authoring = Authoring(course, a)
    solution = solution_answers(authoring.sources[a.notebook])
    first_per_exercise: dict[str, Mutant] = {}
    for m in load_mutants(course.mutants_file(a)):
        first_per_exercise.setdefault(authoring.exercise(m), m)
    chosen = list(first_per_exercise.items())[::2]
    mistakes = dict(solution)
    mistakes.update({m.cell: m.source for _, m in chosen})
    return [
        Profile("solution", solution, frozenset()),
        Profile("blank", {}, frozenset(), blank=True),
        Profile("mistakes", mistakes, frozenset(ex for ex, _ in chosen)),
    ]


def write_submission(course: Course, a: Assignment, student: str, nb) -> Path:
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
    answers: dict[Cell, str] | None = None  # (notebook, grade id) -> answer; None: the release
    raw: str | None = None  # the file's text instead of a notebook (BROKEN)

    wrong: tuple[str, ...] = ()  # exercises given a wrong answer (those of `mutants`)

    @property
    def wrong_exercises(self) -> frozenset[str]:
        return frozenset(self.wrong) | frozenset(self.unanswered)


def class_roster(students: int) -> list[str]:
    """Student ids of a synthetic class: s001, s002, ..."""
    return [f"s{i:03d}" for i in range(1, students + 1)]


def synthetic_class(
    course: Course,
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
        authoring = Authoring(course, a)
        solution = authoring.solutions
        points = authoring.points
        total = sum(points.values())
        by_cell: dict[Cell, list[Mutant]] = {}
        for m in load_mutants(course.mutants_file(a)):
            where = authoring.locate(m.cell, m.notebook)
            if where and authoring.exercise_of.get(where) in points:
                by_cell.setdefault(where, []).append(m)
        exercise_cells: dict[str, list[Cell]] = {}
        for cell in solution:
            ex = authoring.exercise_of.get(cell)
            if ex in points:
                exercise_cells.setdefault(ex, []).append(cell)
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
                first = a.notebooks[0]
                text = nbformat.writes(authoring.filled(solution)[first])
                subs.append(SyntheticSubmission(a.id, student, kind, raw=text[: len(text) // 3]))
                continue
            cells = sorted(by_cell)
            k = min(len(cells), r.choices([1, 2, 3, 4], weights=[4, 4, 2, 1])[0])
            picked = [(c, r.choice(by_cell[c])) for c in sorted(r.sample(cells, k))]
            mutants = tuple(m for _, m in picked)
            hit = {authoring.exercise_of[c] for c, _ in picked}
            free = sorted(set(exercise_cells) - hit)
            unanswered = tuple(sorted(r.sample(free, 1))) if free and r.random() < 0.25 else ()
            answers = dict(solution)
            answers.update({c: m.source for c, m in picked})
            for ex in unanswered:
                for cell in exercise_cells[ex]:
                    del answers[cell]
            lost = sum(points[e] for e in hit | set(unanswered))
            expected = None if kind == TAMPERED else total - lost
            if kind == TAMPERED:
                answers[picked[0][0]] += CHEAT
            subs.append(
                SyntheticSubmission(
                    a.id, student, kind, mutants, unanswered, expected, answers, wrong=tuple(sorted(hit))
                )
            )
    return subs


def write_class(course: Course, subs: list[SyntheticSubmission]) -> None:
    """Put every submission in ``submitted/<student>/<assignment>/`` as a student would."""
    authoring: dict[str, Authoring] = {}
    for s in subs:
        if s.assignment not in authoring:
            authoring[s.assignment] = Authoring(course, course.assignment(s.assignment))
        files = authoring[s.assignment]
        if s.raw is not None:
            path = course.submitted_notebook(files.assignment, s.student, files.assignment.notebooks[0])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(s.raw)
            continue
        files.write(s.student, s.answers)
