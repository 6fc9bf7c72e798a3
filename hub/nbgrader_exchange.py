"""`nbgrader release_feedback` for feedback folders that hold only the HTML the grader wrote.

Stock release_feedback names each student's released file after the submission's secret and
reads it, with the submission's timestamp, from ``feedback/<student>/<assignment>/`` (where stock
``generate_feedback`` copies every file of the autograded submission). ``python -m autograder
feedback`` writes only the HTML there, so that nothing a submission brought in goes back out
(autograder/feedback.py). This release_feedback reads ``timestamp.txt`` and
``submission_secret.txt`` from the autograded submission instead (``autograded/<student>/
<assignment>/``, which came in from the exchange under autograder.intake's rule), and otherwise
does what nbgrader's does. jupyterhub_config.py selects it for the hub:
``c.ExchangeFactory.release_feedback = "hub.nbgrader_exchange.ReleaseFeedback"``.
"""

from __future__ import annotations

import glob
import os
import re
import shutil

from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.utils import notebook_hash


class ReleaseFeedback(ExchangeReleaseFeedback):
    def submission_file(self, student_id: str, name: str) -> str:
        """A file of the autograded submission, read as text (a regular file only)."""
        path = self.coursedir.format_path(
            self.coursedir.autograded_directory, student_id, self.coursedir.assignment_id
        )
        fd = os.open(os.path.join(path, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd) as f:
            return f.read()

    def copy_files(self):
        exclude = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        regexp = re.escape(os.path.sep).join([
            self.coursedir.format_path(
                self.coursedir.feedback_directory, "(?P<student_id>.*)", self.coursedir.assignment_id,
                escape=True,
            ),
            "(?P<notebook_id>.*).html",
        ])  # fmt: skip
        for html_file in glob.glob(os.path.join(self.src_path, "*.html")):
            m = re.match(regexp, html_file)
            if m is None:
                self.log.error("Could not match '%s' with regexp '%s'", html_file, regexp)
                continue
            student_id, notebook_id = m.group("student_id"), m.group("notebook_id")
            if student_id in exclude:
                continue
            try:
                timestamp = self.submission_file(student_id, "timestamp.txt")
                secret = self.submission_file(student_id, "submission_secret.txt")
            except OSError as e:
                self.log.error("Not released for %s: no autograded submission's %s", student_id, e)
                continue
            checksum = notebook_hash(secret=secret, notebook_id=notebook_id)
            self.log.info(
                "Releasing feedback for student '%s' on assignment '%s/%s/%s' (%s)",
                student_id, self.coursedir.course_id, self.coursedir.assignment_id, notebook_id, timestamp,
            )  # fmt: skip
            tmp = os.path.join(self.dest_path, f"{checksum}-tmp.html")
            shutil.copy(html_file, tmp)
            shutil.move(tmp, os.path.join(self.dest_path, f"{checksum}.html"))  # atomically
