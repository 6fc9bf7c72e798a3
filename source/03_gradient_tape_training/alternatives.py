"""Valid answers for 03 · Training with tf.GradientTape, other than the instructor's solution.

Each entry replaces one solution cell (by grade id) with an answer the task allows: another API
(optimizer.apply instead of apply_gradients, a Keras loss, tf.function as a call), another order,
another type (a keras.Variable learning rate). `python -m autograder check` proves that every one
scores full points on its exercise and leaves every other exercise untouched. An alternative that
loses points is fixed by a better test or a clearer task, never by deleting it. Not released to
students.
"""

ALTERNATIVES = [
    # --- ex1 derivative_at ---------------------------------------------------------------
    dict(cell="ex1_derivative_at", why="a float32 variable as source: watched automatically", source='''
def derivative_at(f, x):
    x = tf.Variable(tf.cast(x, tf.float32))
    with tf.GradientTape() as tape:
        y = f(x)
    return tape.gradient(y, x)
'''),
    dict(cell="ex1_derivative_at", why="converts and watches inside the tape", source='''
def derivative_at(f, x):
    with tf.GradientTape() as tape:
        x = tf.cast(tf.convert_to_tensor(x), tf.float32)
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x)
'''),
    # --- ex2 two_gradients ---------------------------------------------------------------
    dict(cell="ex2_two_gradients", why="asks the persistent tape inside its with block (TF warns)",
         source='''
def two_gradients(w):
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(w)
        fit = tf.reduce_sum((w - 1.0) ** 2)
        penalty = 0.1 * tf.reduce_sum(w ** 2)
        grad_fit = tape.gradient(fit, w)
        grad_penalty = tape.gradient(penalty, w)
    return grad_fit, grad_penalty
'''),
    dict(cell="ex2_two_gradients", why="watches only w (watch_accessed_variables=False), tf.square",
         source='''
def two_gradients(w):
    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        tape.watch(w)
        fit = tf.reduce_sum(tf.square(w - 1.0))
        penalty = 0.1 * tf.reduce_sum(tf.square(w))
    return tape.gradient(fit, w), tape.gradient(penalty, w)
'''),
    # --- ex3 gradient_descent ------------------------------------------------------------
    dict(cell="ex3_gradient_descent", why="a plain Keras SGD optimizer does the same update", source='''
def gradient_descent(w, b, x, y, learning_rate, steps):
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(w * x + b - y))
        optimizer.apply(tape.gradient(loss, [w, b]), [w, b])
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex3_gradient_descent", why="a loop over (variable, gradient) with assign, loss via .item()",
         source='''
def gradient_descent(w, b, x, y, learning_rate, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        for variable, grad in zip([w, b], tape.gradient(loss, [w, b])):
            variable.assign(variable - learning_rate * grad)
        losses.append(loss.numpy().item())
    return losses
'''),
    # --- ex4 train_with_optimizer --------------------------------------------------------
    dict(cell="ex4_train_with_optimizer", why="optimizer.apply(grads, variables)", source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(w * x + b - y))
        optimizer.apply(tape.gradient(loss, [w, b]), [w, b])
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex4_train_with_optimizer", why="explicit (gradient, variable) pairs, a Keras loss", source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    mse = keras.losses.MeanSquaredError()
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = mse(y, w * x + b)
        dw, db = tape.gradient(loss, [w, b])
        optimizer.apply_gradients([(dw, w), (db, b)])
        losses.append(float(loss.numpy()))
    return losses
'''),
    # --- ex5 linear_layer ----------------------------------------------------------------
    dict(cell="ex5_linear_layer", why="bias first, initializer objects, keyword order changed", source='''
class Linear(keras.layers.Layer):
    """x @ kernel + bias, with kernel and bias created by add_weight (so Keras tracks them)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=keras.initializers.Zeros())
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer=keras.initializers.GlorotUniform())

    def call(self, x):
        return tf.matmul(x, self.kernel) + self.bias
'''),
    dict(cell="ex5_linear_layer", why="int(input_shape[-1]), trainable and dtype spelt out", source='''
class Linear(keras.layers.Layer):
    """x @ kernel + bias, with kernel and bias created by add_weight (so Keras tracks them)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.kernel = self.add_weight(shape=[fan_in, self.units], initializer="glorot_uniform",
                                      dtype="float32", trainable=True)
        self.bias = self.add_weight(shape=[self.units], initializer="zeros", dtype="float32", trainable=True)

    def call(self, x):
        return tf.matmul(x, self.kernel) + self.bias
'''),
    # --- ex6 train_model_step ------------------------------------------------------------
    dict(cell="ex6_train_model_step", why="optimizer.apply and tf.square", source='''
def train_model_step(model, optimizer, x, y):
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    optimizer.apply(tape.gradient(loss, variables), variables)
    return loss
'''),
    dict(cell="ex6_train_model_step", why="a Keras loss, training=True, explicit pairs, a float back", source='''
def train_model_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients([(g, v) for g, v in zip(grads, model.trainable_variables)])
    return float(loss)
'''),
    # --- ex7 make_compiled_step ----------------------------------------------------------
    dict(cell="ex7_make_compiled_step", why="tf.function called on a plain function, optimizer.apply",
         source='''
def make_compiled_step(model, optimizer):
    variables = model.trainable_variables
    optimizer.build(variables)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    return tf.function(step)
'''),
    dict(cell="ex7_make_compiled_step", why="an input signature fixes the trace", source='''
def make_compiled_step(model, optimizer):
    optimizer.build(model.trainable_variables)
    spec = tf.TensorSpec(shape=[None, None], dtype=tf.float32)

    @tf.function(input_signature=[spec, spec])
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step
'''),
    # --- ex8 make_sgd_step ---------------------------------------------------------------
    dict(cell="ex8_make_sgd_step", why="a keras.Variable learning rate, like the optimizers' own",
         source='''
def make_sgd_step(model):
    learning_rate = keras.Variable(0.1, trainable=False, name="learning_rate")

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        for variable, grad in zip(model.trainable_variables, grads):
            variable.assign_sub(learning_rate * grad)
        return loss

    return step, learning_rate
'''),
    dict(cell="ex8_make_sgd_step", why="a plain SGD optimizer; its own learning_rate is the variable",
         source='''
def make_sgd_step(model):
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    return step, optimizer.learning_rate
'''),
]
