"""Valid answers for 04 · The state inside BatchNormalization, other than the instructor's solution.

Each entry replaces one solution cell (by grade id) with an answer the task allows: another API
(Keras's save_weights instead of tf.train.Checkpoint, keras.ops.moments instead of NumPy),
another order (moving_variance created before moving_mean), another equivalent formula.
`python -m autograder check` proves that every one scores full points on its exercise and leaves
every other exercise untouched. An alternative that loses points is fixed by a better test or a
clearer task, never by deleting it. Not released to students.
"""

ALTERNATIVES = [
    # --- ex1 non_trainable_state -----------------------------------------------------------
    dict(cell="ex1_non_trainable_state", why="np.array(variable) (NumPy 2 warns: DeprecationWarning)",
         source='''
def non_trainable_state(model):
    return {v.path: np.array(v) for v in model.non_trainable_variables}
'''),
    dict(cell="ex1_non_trainable_state", why="a loop over non_trainable_weights with keras.ops", source='''
def non_trainable_state(model):
    state = {}
    for v in model.non_trainable_weights:
        state[v.path] = keras.ops.convert_to_numpy(v).copy()
    return state
'''),
    # --- ex2 batchnorm_numpy ---------------------------------------------------------------
    dict(cell="ex2_batchnorm_numpy", why="keras.ops.moments for the batch statistics", source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=False, epsilon=0.001):
    if training:
        mean, variance = (keras.ops.convert_to_numpy(t) for t in keras.ops.moments(x, axes=[0]))
    else:
        mean, variance = moving_mean, moving_variance
    return np.asarray(gamma * (x - mean) / np.sqrt(variance + epsilon) + beta)
'''),
    dict(cell="ex2_batchnorm_numpy", why="tf.nn.batch_normalization, converted back to NumPy", source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=False, epsilon=0.001):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    if training:
        mean, variance = tf.nn.moments(x, axes=[0])
    else:
        mean, variance = moving_mean, moving_variance
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, epsilon).numpy()
'''),
    # --- ex3 moving_update -----------------------------------------------------------------
    dict(cell="ex3_moving_update", why="keras.ops.moments, as NumPy", source='''
def moving_update(moving_mean, moving_variance, batch, momentum=0.99):
    mean, variance = (keras.ops.convert_to_numpy(t) for t in keras.ops.moments(batch, axes=[0]))
    return (momentum * moving_mean + (1 - momentum) * mean,
            momentum * moving_variance + (1 - momentum) * variance)
'''),
    dict(cell="ex3_moving_update", why="moves each estimate (1 - momentum) of the way, variance by hand",
         source='''
def moving_update(moving_mean, moving_variance, batch, momentum=0.99):
    batch = np.asarray(batch, dtype=np.float64)
    batch_mean = np.mean(batch, axis=0)
    batch_var = np.mean((batch - batch_mean) ** 2, axis=0)
    new_mean = moving_mean + (1 - momentum) * (batch_mean - moving_mean)
    new_variance = moving_variance + (1 - momentum) * (batch_var - moving_variance)
    return new_mean, new_variance
'''),
    # --- ex4 train_step --------------------------------------------------------------------
    dict(cell="ex4_train_step", why="apply_gradients and a Keras loss", source='''
def train_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss
'''),
    dict(cell="ex4_train_step", why="prediction first, loss with keras.ops, the loss as a float", source='''
def train_step(model, optimizer, x, y):
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        prediction = model(x, training=True)
        loss = keras.ops.mean(keras.ops.square(prediction - y))
    optimizer.apply(tape.gradient(loss, variables), variables)
    return float(loss)
'''),
    # --- ex5 freeze_batchnorm --------------------------------------------------------------
    dict(cell="ex5_freeze_batchnorm", why="recognises the layers by their class name", source='''
def freeze_batchnorm(model):
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.trainable = False
    return model
'''),
    dict(cell="ex5_freeze_batchnorm", why="walks nested models too", source='''
def freeze_batchnorm(model):
    def visit(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        for inner in getattr(layer, "layers", []):
            visit(inner)

    visit(model)
    return model
'''),
    # --- ex6 make_train_step ---------------------------------------------------------------
    dict(cell="ex6_make_train_step", why="tf.function called on a nested function", source='''
def make_train_step(model, optimizer):
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x, training=True) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return tf.function(step)
'''),
    dict(cell="ex6_make_train_step", why="a Keras loss object, the variables read inside the step", source='''
def make_train_step(model, optimizer):
    mse = keras.losses.MeanSquaredError()

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = mse(y, model(x, training=True))
        variables = model.trainable_variables
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    return step
'''),
    # --- ex7 save_state / restore_state ----------------------------------------------------
    dict(cell="ex7_checkpoint", why="Keras's model.save_weights / load_weights", source='''
def save_state(model, directory):
    path = os.path.join(directory, "state.weights.h5")
    model.save_weights(path)
    return path


def restore_state(model, path):
    model.load_weights(path)
'''),
    dict(cell="ex7_checkpoint", why="a tf.train.CheckpointManager, restore instead of read", source='''
def save_state(model, directory):
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), directory, max_to_keep=1)
    return manager.save()


def restore_state(model, path):
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
'''),
    dict(cell="ex7_checkpoint", why="every weight, in order, in a NumPy .npz file", source='''
def save_state(model, directory):
    path = os.path.join(directory, "state.npz")
    np.savez(path, *model.get_weights())
    return path


def restore_state(model, path):
    with np.load(path) as saved:
        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])
'''),
    # --- ex8 training_state -----------------------------------------------------------------
    dict(cell="ex8_training_state", why="trainable + non-trainable lists, builds only when not built",
         source='''
def training_state(model, optimizer, metrics):
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    metric_variables = sum((list(m.variables) for m in metrics), [])
    return model.trainable_variables + model.non_trainable_variables + optimizer.variables + metric_variables
'''),
    dict(cell="ex8_training_state", why="model.weights, without duplicates, returned as a tuple", source='''
def training_state(model, optimizer, metrics):
    optimizer.build(model.trainable_variables)
    unique = {}
    for v in [*model.weights, *optimizer.variables, *(v for m in metrics for v in m.variables)]:
        unique.setdefault(id(v), v)
    return tuple(unique.values())
'''),
    # --- ex9 RunningStandardize ------------------------------------------------------------
    dict(cell="ex9_running_standardize", why="moving_variance created first; keras.ops.moments",
         source='''
class RunningStandardize(keras.layers.Layer):
    """Standardise features with batch statistics in training and moving statistics otherwise."""

    def __init__(self, momentum=0.9, epsilon=0.001, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        self.moving_variance = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                               trainable=False, name="moving_variance")
        self.moving_mean = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                           trainable=False, name="moving_mean")

    def call(self, inputs, training=False):
        if training:
            mean, variance = keras.ops.moments(inputs, axes=[0])
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance + (1 - self.momentum) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) / keras.ops.sqrt(variance + self.epsilon)
'''),
    dict(cell="ex9_running_standardize", why="initializer objects, tf.nn.moments, assign_sub of the gap",
         source='''
class RunningStandardize(keras.layers.Layer):
    """Standardise features with batch statistics in training and moving statistics otherwise."""

    def __init__(self, momentum=0.9, epsilon=0.001, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        shape = (int(input_shape[-1]),)
        self.moving_mean = self.add_weight(shape=shape, initializer=keras.initializers.Zeros(),
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=shape, initializer=keras.initializers.Ones(),
                                               trainable=False)

    def call(self, inputs, training=False):
        if not training:
            return (inputs - self.moving_mean) * tf.math.rsqrt(self.moving_variance + self.epsilon)
        mean, variance = tf.nn.moments(inputs, axes=[0])
        self.moving_mean.assign_sub((1 - self.momentum) * (self.moving_mean - mean))
        self.moving_variance.assign_sub((1 - self.momentum) * (self.moving_variance - variance))
        return (inputs - mean) * tf.math.rsqrt(variance + self.epsilon)
'''),
]
