"""Every concept of the course's concept note (../shared/seed) is taught and exercised somewhere.

Taught: the concept's marker appears in a notebook's prose. Exercised: it appears in a graded cell
(a solution or a test), so some exercise makes the student use it and a test checks it.
"""

from __future__ import annotations

import pytest

from autograder.coursedir import read_notebook
from course.syllabus import ASSIGNMENTS

# concept of the note -> (marker in the prose, marker in a graded cell)
CONCEPTS = {
    "tensors are immutable, variables mutable": ("immutable", "tf.Variable"),
    "assign() replaces the value in place": ("assign", ".assign("),
    "assign_add()": ("assign_add", "assign_add("),
    "assign_sub()": ("assign_sub", "assign_sub("),
    "v = v + 1 makes a new tensor, the variable is unchanged": ("v = v + 1", "`v = v + "),
    "trainable by default, watched by GradientTape": ("trainable", "GradientTape"),
    "trainable=False": ("trainable=False", "trainable=False"),
    "a variable needs an initial value": ("initial value", "tf.Variable("),
    "initial value from a NumPy array (dtype kept)": ("NumPy", "np.array("),
    "explicit dtype": ("dtype", "dtype=tf."),
    "names": ("name", "name="),
    "unknown shape (shape=tf.TensorShape(None); validate_shape)": ("validate_shape", "TensorShape(None)"),
    "placement on a device": ("tf.device", "tf.device("),
    "value(), read_value(): a tensor snapshot": ("read_value", "read_value("),
    "numpy(): a NumPy copy": ("numpy()", ".numpy()"),
    "Keras layers create their weights when built": ("built", "build("),
    "gradients of a loss with respect to variables": ("tape.gradient", "tape.gradient("),
    "an optimizer applies the gradients": ("apply_gradients", "apply_gradients("),
    "BatchNormalization's non-trainable moving statistics": ("moving_variance", "moving_variance"),
    "variables keep their state across tf.function calls": ("tf.function", "@tf.function"),
    "Python values are traced into the graph (retracing)": ("retrac", "experimental_get_tracing_count"),
    # The two lessons of issue 18:
    "Python values are frozen at trace time, a variable is captured by reference (captured_inputs)": (
        "captured_inputs",
        "captured_inputs",
    ),
    "all the state of a training run: model, optimizer (iterations, slots) and metric variables": (
        "reset_state",
        "keras.metrics.Mean",
    ),
}


@pytest.fixture(scope="module")
def cells(repo):
    prose, graded = [], []
    for a in ASSIGNMENTS:
        for cell in read_notebook(repo.source_notebook(a)).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "markdown" and not meta.get("solution"):
                prose.append(cell.source)
            elif cell.cell_type == "code" and (meta.get("grade") or meta.get("solution")):
                graded.append(cell.source)
    return prose, graded


@pytest.mark.parametrize("concept", CONCEPTS)
def test_concept_is_taught_and_exercised(cells, concept):
    prose, graded = cells
    taught, exercised = CONCEPTS[concept]
    assert any(taught in text for text in prose), f"{concept}: no notebook explains it ({taught!r})"
    assert any(exercised in src for src in graded), f"{concept}: no exercise or test uses it ({exercised!r})"
