"""Wrong answers students really write for 03 · Training with tf.GradientTape.

Each entry replaces one solution cell (by grade id). `python -m autograder check` proves that
every one loses points on its own exercise and nowhere else. A mutant that escapes is fixed by
strengthening the hidden test, never by deleting the mutant. Not released to students.
The first mutant of each exercise is the most typical one.
"""

MUTANTS = [
    # --- ex1 derivative_at ---------------------------------------------------------------
    dict(cell="ex1_derivative_at", why="never watches x: a tape ignores constants", source='''
def derivative_at(f, x):
    x = tf.cast(x, tf.float32)
    with tf.GradientTape() as tape:
        y = f(x)
    return tape.gradient(y, x)
'''),
    dict(cell="ex1_derivative_at", why="watches an integer input without casting it", source='''
def derivative_at(f, x):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x)
'''),
    dict(cell="ex1_derivative_at", why="wraps x in a variable without dtype: int stays int", source='''
def derivative_at(f, x):
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = f(v)
    return tape.gradient(y, v)
'''),
    dict(cell="ex1_derivative_at", why="computes f(x) before the tape starts", source='''
def derivative_at(f, x):
    x = tf.cast(x, tf.float32)
    y = f(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
    return tape.gradient(y, x)
'''),
    dict(cell="ex1_derivative_at", why="watches the integer, then casts inside the tape", source='''
def derivative_at(f, x):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(tf.cast(x, tf.float32))
    return tape.gradient(y, x)
'''),
    # --- ex2 two_gradients ---------------------------------------------------------------
    dict(cell="ex2_two_gradients", why="a non-persistent tape asked twice", source='''
def two_gradients(w):
    with tf.GradientTape() as tape:
        tape.watch(w)
        fit = tf.reduce_sum((w - 1.0) ** 2)
        penalty = 0.1 * tf.reduce_sum(w ** 2)
    return tape.gradient(fit, w), tape.gradient(penalty, w)
'''),
    dict(cell="ex2_two_gradients", why="relies on automatic watching: frozen variables give None",
         source='''
def two_gradients(w):
    with tf.GradientTape(persistent=True) as tape:
        fit = tf.reduce_sum((w - 1.0) ** 2)
        penalty = 0.1 * tf.reduce_sum(w ** 2)
    return tape.gradient(fit, w), tape.gradient(penalty, w)
'''),
    dict(cell="ex2_two_gradients", why="computes the penalty in NumPy", source='''
def two_gradients(w):
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(w)
        fit = tf.reduce_sum((w - 1.0) ** 2)
        penalty = tf.constant(0.1 * np.sum(w.numpy() ** 2))
    return tape.gradient(fit, w), tape.gradient(penalty, w)
'''),
    dict(cell="ex2_two_gradients", why="computes the fit before the tape starts", source='''
def two_gradients(w):
    fit = tf.reduce_sum((w - 1.0) ** 2)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(w)
        penalty = 0.1 * tf.reduce_sum(w ** 2)
    return tape.gradient(fit, w), tape.gradient(penalty, w)
'''),
    # --- ex3 gradient_descent ------------------------------------------------------------
    dict(cell="ex3_gradient_descent", why="`w = w - ...` replaces the variables by tensors", source='''
def gradient_descent(w, b, x, y, learning_rate, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        dw, db = tape.gradient(loss, [w, b])
        w = w - learning_rate * dw
        b = b - learning_rate * db
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex3_gradient_descent", why="forgets the learning rate", source='''
def gradient_descent(w, b, x, y, learning_rate, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        dw, db = tape.gradient(loss, [w, b])
        w.assign_sub(dw)
        b.assign_sub(db)
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex3_gradient_descent", why="steps up the gradient with assign_add", source='''
def gradient_descent(w, b, x, y, learning_rate, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        dw, db = tape.gradient(loss, [w, b])
        w.assign_add(learning_rate * dw)
        b.assign_add(learning_rate * db)
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex3_gradient_descent", why="takes the gradient for w only, b never moves", source='''
def gradient_descent(w, b, x, y, learning_rate, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        dw = tape.gradient(loss, w)
        w.assign_sub(learning_rate * dw)
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex3_gradient_descent", why="computes the loss before the tape starts", source='''
def gradient_descent(w, b, x, y, learning_rate, steps):
    losses = []
    for _ in range(steps):
        loss = tf.reduce_mean((w * x + b - y) ** 2)
        with tf.GradientTape() as tape:
            tape.watch([w, b])
        dw, db = tape.gradient(loss, [w, b])
        w.assign_sub(learning_rate * dw)
        b.assign_sub(learning_rate * db)
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex3_gradient_descent", why="returns the loss tensors, not Python floats", source='''
def gradient_descent(w, b, x, y, learning_rate, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        dw, db = tape.gradient(loss, [w, b])
        w.assign_sub(learning_rate * dw)
        b.assign_sub(learning_rate * db)
        losses.append(loss)
    return losses
'''),
    # --- ex4 train_with_optimizer --------------------------------------------------------
    dict(cell="ex4_train_with_optimizer", why="creates a new optimizer every step", source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    losses = []
    for _ in range(steps):
        optimizer = keras.optimizers.SGD(learning_rate=0.1)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        grads = tape.gradient(loss, [w, b])
        optimizer.apply_gradients(zip(grads, [w, b]))
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex4_train_with_optimizer", why="a fresh copy of the given optimizer every step",
         source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    losses = []
    for _ in range(steps):
        opt = type(optimizer).from_config(optimizer.get_config())
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        grads = tape.gradient(loss, [w, b])
        opt.apply_gradients(zip(grads, [w, b]))
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex4_train_with_optimizer", why="trains copies of the variables it was given", source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    w, b = tf.Variable(w), tf.Variable(b)
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        grads = tape.gradient(loss, [w, b])
        optimizer.apply_gradients(zip(grads, [w, b]))
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex4_train_with_optimizer", why="zips variables and gradients in the wrong order",
         source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        grads = tape.gradient(loss, [w, b])
        optimizer.apply_gradients(zip([w, b], grads))
        losses.append(float(loss))
    return losses
'''),
    dict(cell="ex4_train_with_optimizer", why="gradients computed once, before the loop", source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((w * x + b - y) ** 2)
    grads = tape.gradient(loss, [w, b])
    losses = []
    for _ in range(steps):
        optimizer.apply_gradients(zip(grads, [w, b]))
        losses.append(float(tf.reduce_mean((w * x + b - y) ** 2)))
    return losses
'''),
    dict(cell="ex4_train_with_optimizer", why="records the loss after the update, not before", source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        grads = tape.gradient(loss, [w, b])
        optimizer.apply_gradients(zip(grads, [w, b]))
        losses.append(float(tf.reduce_mean((w * x + b - y) ** 2)))
    return losses
'''),
    dict(cell="ex4_train_with_optimizer", why="returns the loss tensors, not Python floats", source='''
def train_with_optimizer(w, b, x, y, optimizer, steps):
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        grads = tape.gradient(loss, [w, b])
        optimizer.apply_gradients(zip(grads, [w, b]))
        losses.append(loss)
    return losses
'''),
    # --- ex5 linear_layer ----------------------------------------------------------------
    dict(cell="ex5_linear_layer", why="tf.Variable attributes: a Keras 3 layer does not track them",
         source='''
class Linear(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = tf.Variable(tf.random.normal((input_shape[-1], self.units)) * 0.1)
        self.bias = tf.Variable(tf.zeros(self.units))

    def call(self, x):
        return tf.matmul(x, self.kernel) + self.bias
'''),
    dict(cell="ex5_linear_layer", why="bias created with trainable=False", source='''
class Linear(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", trainable=False)

    def call(self, x):
        return tf.matmul(x, self.kernel) + self.bias
'''),
    dict(cell="ex5_linear_layer", why="weights made in __init__ with a hard-coded input size", source='''
class Linear(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel = self.add_weight(shape=(4, units), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(units,), initializer="zeros")

    def call(self, x):
        return tf.matmul(x, self.kernel) + self.bias
'''),
    dict(cell="ex5_linear_layer", why="the bias is a plain tensor, not a weight", source='''
class Linear(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = tf.zeros(self.units)

    def call(self, x):
        return tf.matmul(x, self.kernel) + self.bias
'''),
    dict(cell="ex5_linear_layer", why="kernel starts at zeros (no random initialiser)", source='''
class Linear(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="zeros")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, x):
        return tf.matmul(x, self.kernel) + self.bias
'''),
    # --- ex6 train_model_step ------------------------------------------------------------
    dict(cell="ex6_train_model_step", why="updates model.weights: frozen layers move too", source='''
def train_model_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    grads = tape.gradient(loss, model.weights)
    optimizer.apply_gradients(zip(grads, model.weights))
    return loss
'''),
    dict(cell="ex6_train_model_step", why="trains only the last layer", source='''
def train_model_step(model, optimizer, x, y):
    variables = model.layers[-1].trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables))
    return loss
'''),
    dict(cell="ex6_train_model_step", why="calls the model before the tape starts", source='''
def train_model_step(model, optimizer, x, y):
    prediction = model(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((prediction - y) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss
'''),
    dict(cell="ex6_train_model_step", why="a new optimizer inside the step", source='''
def train_model_step(model, optimizer, x, y):
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss
'''),
    dict(cell="ex6_train_model_step", why="returns the loss after the update", source='''
def train_model_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return tf.reduce_mean((model(x) - y) ** 2)
'''),
    # --- ex7 make_compiled_step ----------------------------------------------------------
    dict(cell="ex7_make_compiled_step", why="lets Adam create its slots on the first call",
         source='''
def make_compiled_step(model, optimizer):
    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return step
'''),
    dict(cell="ex7_make_compiled_step", why="a plain Python function, never compiled", source='''
def make_compiled_step(model, optimizer):
    optimizer.build(model.trainable_variables)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return step
'''),
    dict(cell="ex7_make_compiled_step", why="wraps in tf.function anew on every call", source='''
def make_compiled_step(model, optimizer):
    optimizer.build(model.trainable_variables)
    def one_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    def step(x, y):
        return tf.function(one_step)(x, y)
    return step
'''),
    dict(cell="ex7_make_compiled_step", why="creates the optimizer inside the compiled step",
         source='''
def make_compiled_step(model, optimizer):
    @tf.function
    def step(x, y):
        opt = keras.optimizers.Adam(learning_rate=0.01)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return step
'''),
    dict(cell="ex7_make_compiled_step", why="builds the optimizer but never applies it", source='''
def make_compiled_step(model, optimizer):
    optimizer.build(model.trainable_variables)
    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        for v, g in zip(model.trainable_variables, grads):
            v.assign_sub(0.01 * g)
        return loss
    return step
'''),
    # --- ex8 make_sgd_step ---------------------------------------------------------------
    dict(cell="ex8_make_sgd_step", why="uses a Python float: frozen into the graph at tracing",
         source='''
def make_sgd_step(model):
    lr = 0.1
    learning_rate = tf.Variable(lr, trainable=False)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        for variable, grad in zip(model.trainable_variables, grads):
            variable.assign_sub(lr * grad)
        return loss

    return step, learning_rate
'''),
    dict(cell="ex8_make_sgd_step", why="reads the variable's value once, outside the step",
         source='''
def make_sgd_step(model):
    learning_rate = tf.Variable(0.1, trainable=False)
    rate = learning_rate.numpy()

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        for variable, grad in zip(model.trainable_variables, grads):
            variable.assign_sub(rate * grad)
        return loss

    return step, learning_rate
'''),
    dict(cell="ex8_make_sgd_step", why="creates the learning-rate variable inside the step",
         source='''
def make_sgd_step(model):
    state = {}

    @tf.function
    def step(x, y):
        state["lr"] = tf.Variable(0.1, trainable=False)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        for variable, grad in zip(model.trainable_variables, grads):
            variable.assign_sub(state["lr"] * grad)
        return loss

    step(tf.zeros([1, model.inputs[0].shape[-1]]), tf.zeros([1, 1]))
    return step, state["lr"]
'''),
    dict(cell="ex8_make_sgd_step", why="leaves the learning rate trainable (the default)", source='''
def make_sgd_step(model):
    learning_rate = tf.Variable(0.1)

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
    dict(cell="ex8_make_sgd_step", why="`variable = variable - ...` rebinds a name, nothing moves",
         source='''
def make_sgd_step(model):
    learning_rate = tf.Variable(0.1, trainable=False)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        for variable, grad in zip(model.trainable_variables, grads):
            variable = variable - learning_rate * grad
        return loss

    return step, learning_rate
'''),
    dict(cell="ex8_make_sgd_step", why="never compiled: a plain Python step", source='''
def make_sgd_step(model):
    learning_rate = tf.Variable(0.1, trainable=False)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        for variable, grad in zip(model.trainable_variables, grads):
            variable.assign_sub(learning_rate * grad)
        return loss

    return step, learning_rate
'''),
]
