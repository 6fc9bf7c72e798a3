"""The committed release/ is exactly what nbgrader generates from the committed source/."""

from __future__ import annotations

import filecmp

from course.syllabus import ASSIGNMENTS


def test_committed_release_matches_a_fresh_build(repo, built_course):
    stale = []
    for a in ASSIGNMENTS:
        fresh, committed = built_course.root / "release" / a.id, repo.root / "release" / a.id
        if not committed.exists():
            stale.append(f"{a.id}: missing")
            continue
        cmp = filecmp.dircmp(fresh, committed)
        stale += [f"{a.id}/{n}: differs" for n in cmp.diff_files]
        stale += [f"{a.id}/{n}: not committed" for n in cmp.left_only]
        stale += [f"{a.id}/{n}: not generated any more" for n in cmp.right_only]
        stale += [f"{a.id}/{n}: differs" for n in cmp.common_files if not filecmp.cmp(
            fresh / n, committed / n, shallow=False)]
    assert not stale, "release/ is stale; run `make release` and commit it:\n" + "\n".join(stale)


def test_release_hides_solutions_hidden_tests_and_authoring_files(built_course):
    for a in ASSIGNMENTS:
        folder = built_course.root / "release" / a.id
        for authoring in ("mutants.py", "alternatives.py"):
            assert not (folder / authoring).exists(), f"{authoring} must never reach students"
        text = (folder / a.notebook).read_text()
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
            assert marker not in text, f"{a.id}: release contains {marker}"
        assert "raise NotImplementedError()" in text
