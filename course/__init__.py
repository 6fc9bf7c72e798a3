"""The TensorFlow-variables course as data, for the project's own tooling (`autograder`, tests).

The notebooks do not import this package: a student may have a notebook alone.
"""

from course.syllabus import ASSIGNMENTS, Assignment, assignment

__all__ = ["ASSIGNMENTS", "Assignment", "assignment"]
