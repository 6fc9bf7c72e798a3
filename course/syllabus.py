"""The syllabus as data: every other piece of code reads assignment names from here.

An assignment lives in ``source/<id>/<notebook>`` (instructor version, with solutions and
hidden tests) and is released by nbgrader to ``release/<id>/<notebook>``. A test checks that
the points below equal the points stored in the notebook's nbgrader metadata.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Assignment:
    id: str  # nbgrader assignment id and folder name; numbered so they sort
    title: str
    notebook: str  # file name inside source/<id>/ and release/<id>/
    objectives: tuple[str, ...]
    autograded_points: float
    manual_points: float

    @property
    def notebooks(self) -> tuple[str, ...]:
        """As nbgrader sees an assignment (autograder.coursedir.Assignment): its notebooks."""
        return (self.notebook,)

    @property
    def points(self) -> float:
        return self.autograded_points + self.manual_points

    @property
    def number(self) -> int:
        return int(self.id.split("_", 1)[0])


ASSIGNMENTS: tuple[Assignment, ...] = (
    Assignment(
        id="01_creating_variables",
        title="Creating variables",
        notebook="creating_variables.ipynb",
        objectives=(
            "explain why model parameters live in a tf.Variable and not in a tf.Tensor",
            "predict the dtype a variable gets from a Python scalar, a list or a NumPy array",
            "choose dtype, name, trainability, shape (even an unknown shape) and device at creation",
            "read a variable's value as a snapshot, and copy a variable instead of aliasing it",
            "recognise the keras.Variable objects that hold a Keras 3 layer's weights",
        ),
        autograded_points=13,
        manual_points=2,
    ),
    Assignment(
        id="02_changing_variables",
        title="Changing variables in place",
        notebook="changing_variables.ipynb",
        objectives=(
            "update a variable in place with assign, assign_add and assign_sub, and say what they return",
            "explain why v = v + 1 leaves a variable untouched and why v += 1 is an error",
            "respect a variable's shape and dtype when assigning, and change single entries or slices",
            "tell a snapshot of a variable's value from an alias of the variable itself",
            "keep state in variables inside tf.function, where Python values are frozen when traced",
        ),
        autograded_points=16,
        manual_points=2,
    ),
    Assignment(
        id="03_gradient_tape_training",
        title="Training with tf.GradientTape",
        notebook="gradient_tape_training.ipynb",
        objectives=(
            "predict what a tf.GradientTape records, and make it watch a tensor it would ignore",
            "explain why a gradient comes back None, and fix the cause",
            "train a model with a tape and assign_sub, then with one Keras optimizer for all steps",
            "write a custom training loop for a Keras model whose layers' weights are tracked",
            "compile a training step with tf.function, traced once, its variables created outside",
        ),
        autograded_points=16,
        manual_points=2,
    ),
    # New assignments are appended here, in order (02_..., 03_..., 04_...).
    Assignment(
        id="04_batchnorm_state",
        title="The state inside BatchNormalization",
        notebook="batchnorm_state.ipynb",
        objectives=(
            "find BatchNormalization's trainable and non-trainable variables in a layer or a model",
            "predict when the moving statistics change (training=True) and when they do not",
            "reproduce the layer's moving-average update by hand, with Keras's momentum convention",
            "write training loops that update the statistics, and freeze them for fine-tuning",
            "save the whole state of a training run (model, optimizer, metrics) to resume it exactly",
            "write a layer whose own non-trainable state is updated in place",
        ),
        autograded_points=20,
        manual_points=2,
    ),
)


def assignment(assignment_id: str) -> Assignment:
    """Look an assignment up by id; a clear error lists the known ids."""
    for a in ASSIGNMENTS:
        if a.id == assignment_id:
            return a
    known = ", ".join(a.id for a in ASSIGNMENTS)
    raise KeyError(f"unknown assignment {assignment_id!r}; known: {known}")
