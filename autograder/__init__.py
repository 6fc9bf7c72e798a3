"""Instructor tooling for the course: `python -m autograder <command>`.

nbgrader stays the source of truth for formats, the gradebook, formgrader and export;
this package adds what nbgrader lacks (see README.md, "For instructors").
"""
