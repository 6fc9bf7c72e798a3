"""nbgrader configuration of the course (read by nbgrader, formgrader and `python -m autograder`).

Run nbgrader from this directory: paths below are relative to it.
"""

import os

c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

# --- the course -------------------------------------------------------------------------
c.CourseDirectory.course_id = "tf-variables"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# sqlite next to this file by default; a PostgreSQL URL works unchanged.
c.CourseDirectory.db_url = os.environ.get(
    "NBGRADER_DB_URL",
    "sqlite:///" + os.path.join(os.path.dirname(os.path.abspath(__file__)), "gradebook.db"),
)
# Authoring files that sit next to a source notebook but must never reach students.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    ".*",
    "mutants.py",
    "alternatives.py",
]

# --- releasing ----------------------------------------------------------------------------
c.IncludeHeaderFooter.header = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "source", "header.ipynb"
)
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# --- executing (validate, autograde) ------------------------------------------------------
# A notebook's first cell imports TensorFlow (~3 s on 2 cores); a cell gets 120 s.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# `python -m autograder grade` (autograder/engine/execute.py) also uses c.Execute.timeout per cell, and:
# the whole notebook (kernel start included) gets at most notebook_timeout seconds, then its
# kernel is killed and its remaining cells are not run (they score 0; earlier cells keep their
# points); a timed-out cell is interrupted, and its kernel killed if it has not stopped
# interrupt_grace seconds later. (c.Sandbox.cell_timeout / notebook_timeout override these.)
c.NotebookRunner.notebook_timeout = 600
c.NotebookRunner.interrupt_grace = 5
# nbgrader gives a test cell 0 points if it wrote anything to stderr, and TensorFlow logs to
# stderr at import unless TF_CPP_MIN_LOG_LEVEL is set first (the oneDNN variable only turns off
# its numerics notice). Stock nbgrader's kernels inherit this process's environment; our grading
# kernels get c.Kernels.env below; each notebook's setup cell sets them too.
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
for _name, _value in QUIET_TENSORFLOW.items():
    os.environ.setdefault(_name, _value)

# --- submissions: only their own regular files come in (autograder/intake.py) ------------------
# `nbgrader collect` copies from the exchange's inbound folder, which students can write to: this
# collector never follows a link, opens a FIFO or device, nor copies past these bounds (`python -m
# autograder grade` applies the same rule to whatever is in submitted/).
c.ExchangeFactory.collect = "autograder.intake.SafeExchangeCollect"
c.SubmissionFiles.max_total_mb = 100  # all of a submission's files together
c.SubmissionFiles.max_entries = 1000  # files, folders and other entries
c.SubmissionFiles.max_depth = 5  # nested folders

# --- grading kernels (python -m autograder grade) --------------------------------------------------
# What every kernel starts with: imported once by the fork server, so a kernel costs ~0.3 s instead
# of ~3.6 s (`import tensorflow`); and the environment every kernel gets.
c.Kernels.preload = ["tensorflow", "keras", "numpy", "matplotlib", "matplotlib.pyplot"]
c.Kernels.env = QUIET_TENSORFLOW
