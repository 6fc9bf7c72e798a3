"""The grading engine: one submission in, nbgrader's grades out, every notebook in a fresh kernel.

::

    grading   one submission: nbgrader's Autograde converter (hidden tests restored, scores saved
      |       to the gradebook; nbgrader_speedups: what nbgrader redid per notebook, done once;
      |       nbgrader_batched: its per-cell queries, one per notebook), its Execute step replaced by ...
    execute   one notebook through one kernel, cell by cell: time limits, a dead kernel, hooks
      |   \\
      |    guard (host half) ..user_expressions..> guard_kernel (in the kernel: restore, watch)
    kernels   a fresh kernel per notebook, forked by ...
      |
    forkserver  a process that imported the course's libraries once (in the sandbox), and per kernel
      |         isolation (its own PID/mount/IPC namespaces, uid, no capabilities)
    sandbox   the bubblewrap command line and resource limits
    redact    hidden-test text out of every output (grading and feedback)

Nothing here imports the commands above it (batch, check, report ...) or the course's own
tooling (`course/`); `autograder.records` (results) and `autograder.coursedir` (the course) are
the only modules it shares with them.
"""
