"""What the project's own tooling needs around the notebooks. The notebooks never import it.

Each notebook is self-contained: its locked setup cell silences TensorFlow, seeds Keras and (in 01)
splits the CPU into two logical devices in plain code a student can read, so it runs with nothing
but TensorFlow, NumPy, matplotlib and ipykernel installed (proved by tests/test_bare_env.py).
Tools that start kernels (the tests) also export QUIET_TF_ENV, so a kernel is quiet from its first
line, before any setup cell has run.
"""

from __future__ import annotations

# Both are needed: with only one of them TensorFlow 2.21 still prints to stderr at import.
QUIET_TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
