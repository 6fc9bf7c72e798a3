"""The TensorFlow-variables course: its syllabus as data and the helpers its notebooks import.

Notebooks start with::

    import course
    course.quiet_tensorflow()   # before `import tensorflow`
    import tensorflow as tf
    course.seed_everything(42)
"""

from course.notebook import plot_defaults, quiet_tensorflow, seed_everything, split_cpu
from course.syllabus import ASSIGNMENTS, Assignment, assignment

__all__ = [
    "ASSIGNMENTS",
    "Assignment",
    "assignment",
    "plot_defaults",
    "quiet_tensorflow",
    "seed_everything",
    "split_cpu",
]
