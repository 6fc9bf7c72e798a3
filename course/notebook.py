"""Helpers the course notebooks call in their locked setup cell.

They exist because of two measured facts: nbgrader gives a test cell 0 points if it wrote
anything to stderr, and TensorFlow logs to stderr at import unless told not to *before* it is
imported. Keras 3 initialisers also ignore `tf.random.set_seed`, so seeding goes through Keras.
"""

from __future__ import annotations

import os

# Both are needed: with only one of them TensorFlow 2.21 still prints to stderr at import.
QUIET_TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ log lines. Call before the first `import tensorflow`."""
    os.environ.update(QUIET_TF_ENV)


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy, TensorFlow and Keras initialisers in one call."""
    import keras

    keras.utils.set_random_seed(seed)
    plot_defaults()


def split_cpu(count: int = 2) -> None:
    """Show the CPU as `count` logical devices (/CPU:0, /CPU:1, ...), so that a machine without a
    GPU can still show where variables are placed. TensorFlow only allows this before it runs its
    first operation: call it in the setup cell; running the setup cell again later is harmless."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # TensorFlow is running already: keep the devices it has
        pass


def plot_defaults() -> None:
    """Small, legible figures: notebooks stay light and look alike."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (6.0, 3.2),
            "figure.dpi": 80,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
        }
    )
