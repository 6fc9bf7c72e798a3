"""Wrong answers students really write for 04 · The state inside BatchNormalization.

Each entry replaces one solution cell (by grade id). `python -m autograder check` proves that
every one loses points on its own exercise and nowhere else. A mutant that escapes is fixed by
strengthening the hidden test, never by deleting it. The first entry of each exercise is the
most typical mistake. Not released to students.
"""

_TRAIN_STEP = '''
def train_step(model, optimizer, x, y):
{body}
'''

_RUNNING_STANDARDIZE = '''
class RunningStandardize(keras.layers.Layer):
    def __init__(self, momentum=0.9, epsilon=0.001, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
{build}

    def call(self, inputs, training=False):
{call}
'''

_GOOD_BUILD = '''\
        features = input_shape[-1]
        self.moving_mean = self.add_weight(shape=(features,), initializer="zeros",
                                           trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=(features,), initializer="ones",
                                               trainable=False, name="moving_variance")'''

_GOOD_CALL = '''\
        if training:
            mean = tf.reduce_mean(inputs, axis=0)
            variance = tf.math.reduce_variance(inputs, axis=0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) / tf.sqrt(variance + self.epsilon)'''


def _standardize(build=_GOOD_BUILD, call=_GOOD_CALL):
    return _RUNNING_STANDARDIZE.format(build=build, call=call)


MUTANTS = [
    # --- ex1 non_trainable_state -----------------------------------------------------------
    dict(cell="ex1_non_trainable_state", why="keys by short name: two 'moving_mean' collide", source='''
def non_trainable_state(model):
    return {v.name: v.numpy() for v in model.non_trainable_variables}
'''),
    dict(cell="ex1_non_trainable_state", why="model.weights includes gamma, beta, kernels", source='''
def non_trainable_state(model):
    return {v.path: v.numpy() for v in model.weights}
'''),
    dict(cell="ex1_non_trainable_state", why="stores the variables, which follow later updates", source='''
def non_trainable_state(model):
    return {v.path: v for v in model.non_trainable_variables}
'''),
    dict(cell="ex1_non_trainable_state", why="confuses trainable and non-trainable", source='''
def non_trainable_state(model):
    return {v.path: v.numpy() for v in model.trainable_variables}
'''),
    dict(cell="ex1_non_trainable_state", why="only looks for BatchNormalization by name", source='''
def non_trainable_state(model):
    state = {}
    for layer in model.layers:
        if layer.name.startswith("batch_normalization"):
            state[layer.moving_mean.path] = layer.moving_mean.numpy()
            state[layer.moving_variance.path] = layer.moving_variance.numpy()
    return state
'''),
    # --- ex2 batchnorm_numpy ---------------------------------------------------------------
    dict(cell="ex2_batchnorm_numpy", why="always normalises with the moving statistics", source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=False, epsilon=0.001):
    return (x - moving_mean) / np.sqrt(moving_variance + epsilon) * gamma + beta
'''),
    dict(cell="ex2_batchnorm_numpy", why="always normalises with the batch statistics", source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=False, epsilon=0.001):
    return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + epsilon) * gamma + beta
'''),
    dict(cell="ex2_batchnorm_numpy", why="epsilon added to the standard deviation, not the variance",
         source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=False, epsilon=0.001):
    if training:
        mean, variance = x.mean(axis=0), x.var(axis=0)
    else:
        mean, variance = moving_mean, moving_variance
    return (x - mean) / (np.sqrt(variance) + epsilon) * gamma + beta
'''),
    dict(cell="ex2_batchnorm_numpy", why="unbiased batch variance (ddof=1) in training mode", source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=False, epsilon=0.001):
    if training:
        mean, variance = x.mean(axis=0), x.var(axis=0, ddof=1)
    else:
        mean, variance = moving_mean, moving_variance
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta
'''),
    dict(cell="ex2_batchnorm_numpy", why="training mode by default", source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=True, epsilon=0.001):
    if training:
        mean, variance = x.mean(axis=0), x.var(axis=0)
    else:
        mean, variance = moving_mean, moving_variance
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta
'''),
    dict(cell="ex2_batchnorm_numpy", why="ignores the epsilon argument (hard-coded default)", source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=False, epsilon=0.001):
    if training:
        mean, variance = x.mean(axis=0), x.var(axis=0)
    else:
        mean, variance = moving_mean, moving_variance
    return (x - mean) / np.sqrt(variance + 0.001) * gamma + beta
'''),
    dict(cell="ex2_batchnorm_numpy", why="returns a TensorFlow tensor, not a NumPy array", source='''
def batchnorm_numpy(x, gamma, beta, moving_mean, moving_variance, training=False, epsilon=0.001):
    if training:
        mean, variance = tf.nn.moments(tf.constant(x), axes=[0])
    else:
        mean, variance = moving_mean, moving_variance
    return (x - mean) / tf.sqrt(variance + epsilon) * gamma + beta
'''),
    # --- ex3 moving_update -----------------------------------------------------------------
    dict(cell="ex3_moving_update", why="PyTorch convention: momentum weights the new value", source='''
def moving_update(moving_mean, moving_variance, batch, momentum=0.99):
    new_mean = (1 - momentum) * moving_mean + momentum * batch.mean(axis=0)
    new_variance = (1 - momentum) * moving_variance + momentum * batch.var(axis=0)
    return new_mean, new_variance
'''),
    dict(cell="ex3_moving_update", why="unbiased batch variance (ddof=1), as PyTorch stores", source='''
def moving_update(moving_mean, moving_variance, batch, momentum=0.99):
    new_mean = moving_mean * momentum + batch.mean(axis=0) * (1 - momentum)
    new_variance = moving_variance * momentum + batch.var(axis=0, ddof=1) * (1 - momentum)
    return new_mean, new_variance
'''),
    dict(cell="ex3_moving_update", why="updates the given arrays in place", source='''
def moving_update(moving_mean, moving_variance, batch, momentum=0.99):
    moving_mean *= momentum
    moving_mean += batch.mean(axis=0) * (1 - momentum)
    moving_variance *= momentum
    moving_variance += batch.var(axis=0) * (1 - momentum)
    return moving_mean, moving_variance
'''),
    dict(cell="ex3_moving_update", why="variance measured around the moving mean", source='''
def moving_update(moving_mean, moving_variance, batch, momentum=0.99):
    new_mean = moving_mean * momentum + batch.mean(axis=0) * (1 - momentum)
    spread = np.mean((batch - moving_mean) ** 2, axis=0)
    new_variance = moving_variance * momentum + spread * (1 - momentum)
    return new_mean, new_variance
'''),
    dict(cell="ex3_moving_update", why="default momentum 0.9 instead of Keras's 0.99", source='''
def moving_update(moving_mean, moving_variance, batch, momentum=0.9):
    new_mean = moving_mean * momentum + batch.mean(axis=0) * (1 - momentum)
    new_variance = moving_variance * momentum + batch.var(axis=0) * (1 - momentum)
    return new_mean, new_variance
'''),
    dict(cell="ex3_moving_update", why="statistics over the wrong axis (per example)", source='''
def moving_update(moving_mean, moving_variance, batch, momentum=0.99):
    new_mean = moving_mean * momentum + batch.mean(axis=-1) * (1 - momentum)
    new_variance = moving_variance * momentum + batch.var(axis=-1) * (1 - momentum)
    return new_mean, new_variance
'''),
    # --- ex4 train_step --------------------------------------------------------------------
    dict(cell="ex4_train_step", why="forgets training=True: an inference call",
         source=_TRAIN_STEP.format(body='''
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply(grads, model.trainable_variables)
    return loss''')),
    dict(cell="ex4_train_step", why="calls the model twice in training mode (two updates)",
         source=_TRAIN_STEP.format(body='''
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply(grads, model.trainable_variables)
    model(x, training=True)  # "to update the statistics"
    return loss''')),
    dict(cell="ex4_train_step", why="updates statistics in a separate call, loss in inference mode",
         source=_TRAIN_STEP.format(body='''
    model(x, training=True)  # update the statistics
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply(grads, model.trainable_variables)
    return loss''')),
    dict(cell="ex4_train_step", why="forward pass outside the tape: no gradients",
         source=_TRAIN_STEP.format(body='''
    pred = model(x, training=True)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(pred - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply(grads, model.trainable_variables)
    return loss''')),
    dict(cell="ex4_train_step", why="returns the per-example squared errors, not the scalar loss",
         source=_TRAIN_STEP.format(body='''
    with tf.GradientTape() as tape:
        errors = tf.square(model(x, training=True) - y)
        loss = tf.reduce_mean(errors)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply(grads, model.trainable_variables)
    return errors''')),
    # --- ex5 freeze_batchnorm --------------------------------------------------------------
    dict(cell="ex5_freeze_batchnorm", why="freezes the whole model", source='''
def freeze_batchnorm(model):
    model.trainable = False
    return model
'''),
    dict(cell="ex5_freeze_batchnorm", why="marks the variables non-trainable: statistics still move",
         source='''
def freeze_batchnorm(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for v in layer.weights:
                v.trainable = False
    return model
'''),
    dict(cell="ex5_freeze_batchnorm", why="momentum 1.0 stops the statistics but gamma/beta train",
         source='''
def freeze_batchnorm(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 1.0
    return model
'''),
    dict(cell="ex5_freeze_batchnorm", why="finds the layers by their default name", source='''
def freeze_batchnorm(model):
    for layer in model.layers:
        if layer.name.startswith("batch_normalization"):
            layer.trainable = False
    return model
'''),
    dict(cell="ex5_freeze_batchnorm", why="stops after the first BatchNormalization layer", source='''
def freeze_batchnorm(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            break
    return model
'''),
    # --- ex6 make_train_step ---------------------------------------------------------------
    dict(cell="ex6_make_train_step", why="forgets training=True inside the tf.function", source='''
def make_train_step(model, optimizer):
    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss
    return step
'''),
    dict(cell="ex6_make_train_step", why="caches the compiled step: the old trace keeps updating",
         source='''
_steps = {}

def make_train_step(model, optimizer):
    if id(model) not in _steps:
        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return loss
        _steps[id(model)] = step
    return _steps[id(model)]
'''),
    dict(cell="ex6_make_train_step", why="one module-level tf.function reused for every model", source='''
@tf.function
def _shared_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply(grads, model.trainable_variables)
    return loss

def make_train_step(model, optimizer):
    return tf.function(lambda x, y: _shared_step(model, optimizer, x, y))
'''),
    dict(cell="ex6_make_train_step", why="plain Python function, not compiled", source='''
def make_train_step(model, optimizer):
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss
    return step
'''),
    dict(cell="ex6_make_train_step", why="calls the model twice in the step (two updates)", source='''
def make_train_step(model, optimizer):
    @tf.function
    def step(x, y):
        model(x, training=True)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss
    return step
'''),
    # --- ex7 save_state / restore_state ----------------------------------------------------
    dict(cell="ex7_checkpoint", why="checkpoints only the trainable variables", source='''
def save_state(model, directory):
    return tf.train.Checkpoint(weights=model.trainable_variables).write(os.path.join(directory, "state"))


def restore_state(model, path):
    tf.train.Checkpoint(weights=model.trainable_variables).read(path)
'''),
    dict(cell="ex7_checkpoint", why="uses the directory itself as the prefix: files land beside it",
         source='''
def save_state(model, directory):
    return tf.train.Checkpoint(model=model).write(directory)


def restore_state(model, path):
    tf.train.Checkpoint(model=model).read(path)
'''),
    dict(cell="ex7_checkpoint", why="restores tf.train.latest_checkpoint, which write() never records",
         source='''
def save_state(model, directory):
    return tf.train.Checkpoint(model=model).write(os.path.join(directory, "state"))


def restore_state(model, path):
    tf.train.Checkpoint(model=model).restore(tf.train.latest_checkpoint(os.path.dirname(path)))
'''),
    dict(cell="ex7_checkpoint", why="different checkpoint keys on save and restore: nothing matches",
         source='''
def save_state(model, directory):
    return tf.train.Checkpoint(model=model).write(os.path.join(directory, "state"))


def restore_state(model, path):
    tf.train.Checkpoint(net=model).read(path)
'''),
    dict(cell="ex7_checkpoint", why="keeps the values in memory instead of writing a checkpoint",
         source='''
_memory = {}

def save_state(model, directory):
    path = os.path.join(directory, "state")
    _memory[path] = model.get_weights()
    return path


def restore_state(model, path):
    model.set_weights(_memory[path])
'''),
    # --- ex8 training_state -----------------------------------------------------------------
    dict(cell="ex8_training_state", why="the model alone: the optimizer starts over after a restore", source='''
def training_state(model, optimizer, metrics):
    return list(model.variables)
'''),
    dict(cell="ex8_training_state", why="trainable variables only: the moving statistics are left out",
         source='''
def training_state(model, optimizer, metrics):
    optimizer.build(model.trainable_variables)
    return model.trainable_variables + optimizer.variables + [v for m in metrics for v in m.variables]
'''),
    dict(cell="ex8_training_state", why="model and optimizer, but not the metrics", source='''
def training_state(model, optimizer, metrics):
    optimizer.build(model.trainable_variables)
    return model.variables + optimizer.variables
'''),
    dict(cell="ex8_training_state", why="never builds the optimizer: no slots before its first step", source='''
def training_state(model, optimizer, metrics):
    return model.variables + optimizer.variables + [v for m in metrics for v in m.variables]
'''),
    dict(cell="ex8_training_state", why="the step counter is all the optimizer state it keeps", source='''
def training_state(model, optimizer, metrics):
    return model.variables + [optimizer.iterations] + [v for m in metrics for v in m.variables]
'''),
    dict(cell="ex8_training_state", why="only the first metric of the list", source='''
def training_state(model, optimizer, metrics):
    optimizer.build(model.trainable_variables)
    return model.variables + optimizer.variables + metrics[0].variables
'''),
    # --- ex9 RunningStandardize -------------------------------------------------------------
    dict(cell="ex9_running_standardize", why="add_weight is trainable by default",
         source=_standardize(build='''\
        features = input_shape[-1]
        self.moving_mean = self.add_weight(shape=(features,), initializer="zeros",
                                           name="moving_mean")
        self.moving_variance = self.add_weight(shape=(features,), initializer="ones",
                                               name="moving_variance")''')),
    dict(cell="ex9_running_standardize", why="rebinds the attribute instead of assigning in place",
         source=_standardize(call='''\
        if training:
            mean = tf.reduce_mean(inputs, axis=0)
            variance = tf.math.reduce_variance(inputs, axis=0)
            self.moving_mean = self.moving_mean * self.momentum + mean * (1 - self.momentum)
            self.moving_variance = self.moving_variance * self.momentum + variance * (1 - self.momentum)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) / tf.sqrt(variance + self.epsilon)''')),
    dict(cell="ex9_running_standardize", why="plain tf.Variable attributes are not tracked by Keras 3",
         source=_standardize(build='''\
        features = input_shape[-1]
        self.moving_mean = tf.Variable(tf.zeros([features]), trainable=False, name="moving_mean")
        self.moving_variance = tf.Variable(tf.ones([features]), trainable=False, name="moving_variance")''')),
    dict(cell="ex9_running_standardize", why="updates the statistics in inference mode too",
         source=_standardize(call='''\
        mean = tf.reduce_mean(inputs, axis=0)
        variance = tf.math.reduce_variance(inputs, axis=0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
        if not training:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) / tf.sqrt(variance + self.epsilon)''')),
    dict(cell="ex9_running_standardize", why="PyTorch momentum convention", source=_standardize(call='''\
        if training:
            mean = tf.reduce_mean(inputs, axis=0)
            variance = tf.math.reduce_variance(inputs, axis=0)
            self.moving_mean.assign((1 - self.momentum) * self.moving_mean + self.momentum * mean)
            self.moving_variance.assign((1 - self.momentum) * self.moving_variance + self.momentum * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) / tf.sqrt(variance + self.epsilon)''')),
    dict(cell="ex9_running_standardize", why="normalises with batch statistics even in inference",
         source=_standardize(call='''\
        mean = tf.reduce_mean(inputs, axis=0)
        variance = tf.math.reduce_variance(inputs, axis=0)
        if training:
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
        return (inputs - mean) / tf.sqrt(variance + self.epsilon)''')),
    dict(cell="ex9_running_standardize", why="hard-codes momentum 0.9, ignores self.momentum",
         source=_standardize(call='''\
        if training:
            mean = tf.reduce_mean(inputs, axis=0)
            variance = tf.math.reduce_variance(inputs, axis=0)
            self.moving_mean.assign(self.moving_mean * 0.9 + mean * 0.1)
            self.moving_variance.assign(self.moving_variance * 0.9 + variance * 0.1)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) / tf.sqrt(variance + self.epsilon)''')),
    dict(cell="ex9_running_standardize", why="hard-codes epsilon 0.001, ignores self.epsilon",
         source=_standardize(call='''\
        if training:
            mean = tf.reduce_mean(inputs, axis=0)
            variance = tf.math.reduce_variance(inputs, axis=0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) / tf.sqrt(variance + 0.001)''')),
]
