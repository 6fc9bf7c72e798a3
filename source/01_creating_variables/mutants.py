"""Wrong answers students really write for 01 · Creating variables.

Each entry replaces one solution cell (by grade id). `python -m autograder check` proves that
every one loses points on its own exercise and nowhere else. A mutant that escapes is fixed by
strengthening the hidden test, never by deleting the mutant. Not released to students.
"""

MUTANTS = [
    # --- ex1 make_bias -------------------------------------------------------------------
    dict(cell="ex1_make_bias", why="tf.zeros makes an immutable tensor, not a variable", source='''
def make_bias(units):
    return tf.zeros([units])
'''),
    dict(cell="ex1_make_bias", why="NumPy zeros are float64, and the dtype survives", source='''
def make_bias(units):
    return tf.Variable(np.zeros(units), name="bias")
'''),
    dict(cell="ex1_make_bias", why="forgot the name", source='''
def make_bias(units):
    return tf.Variable(tf.zeros([units]))
'''),
    dict(cell="ex1_make_bias", why="one shared variable reused across calls", source='''
_bias = tf.Variable(tf.zeros([3]), name="bias")
def make_bias(units):
    global _bias
    if _bias.shape != (units,):
        _bias = tf.Variable(tf.zeros([units]), name="bias")
    return _bias
'''),
    # --- ex2 variable_from_numpy ---------------------------------------------------------
    dict(cell="ex2_variable_from_numpy", why="NumPy float64 stays float64 without dtype=", source='''
def variable_from_numpy(array):
    return tf.Variable(array)
'''),
    dict(cell="ex2_variable_from_numpy", why="returns a constant tensor, not a variable", source='''
def variable_from_numpy(array):
    return tf.constant(array, dtype=tf.float32)
'''),
    dict(cell="ex2_variable_from_numpy", why="casts only float64 input, int arrays stay int",
         source='''
def variable_from_numpy(array):
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return tf.Variable(array)
'''),
    dict(cell="ex2_variable_from_numpy", why="flattens the array", source='''
def variable_from_numpy(array):
    return tf.Variable(np.ravel(array), dtype=tf.float32)
'''),
    # --- ex3 make_step_counter -----------------------------------------------------------
    dict(cell="ex3_make_step_counter", why="left trainable=True (the default)", source='''
def make_step_counter():
    return tf.Variable(0, dtype=tf.int64, name="step")
'''),
    dict(cell="ex3_make_step_counter", why="tf.Variable(0) is int32", source='''
def make_step_counter():
    return tf.Variable(0, trainable=False, name="step")
'''),
    dict(cell="ex3_make_step_counter", why="a float counter", source='''
def make_step_counter():
    return tf.Variable(0.0, trainable=False, name="step")
'''),
    dict(cell="ex3_make_step_counter", why="starts counting at 1", source='''
def make_step_counter():
    return tf.Variable(1, dtype=tf.int64, trainable=False, name="step")
'''),
    # --- ex4 make_growable_buffer --------------------------------------------------------
    dict(cell="ex4_make_growable_buffer", why="validate_shape=False alone keeps the shape fixed",
         source='''
def make_growable_buffer():
    return tf.Variable(tf.zeros([0]), validate_shape=False)
'''),
    dict(cell="ex4_make_growable_buffer", why="fixed shape from the initial value", source='''
def make_growable_buffer():
    return tf.Variable(tf.zeros([0]))
'''),
    dict(cell="ex4_make_growable_buffer", why="shape=[None] allows any length but only vectors",
         source='''
def make_growable_buffer():
    return tf.Variable(tf.zeros([0]), shape=[None])
'''),
    dict(cell="ex4_make_growable_buffer", why="unknown shape but starts with data, not empty",
         source='''
def make_growable_buffer():
    return tf.Variable(tf.zeros([1]), shape=tf.TensorShape(None))
'''),
    # --- ex5 make_on_device --------------------------------------------------------------
    dict(cell="ex5_make_on_device", why="ignores the device: the variable lands on the default one", source='''
def make_on_device(initial_value, device):
    return tf.Variable(initial_value)
'''),
    dict(cell="ex5_make_on_device", why="puts the value on the device, creates the variable outside the scope",
         source='''
def make_on_device(initial_value, device):
    with tf.device(device):
        value = tf.convert_to_tensor(initial_value)
    return tf.Variable(value)
'''),
    dict(cell="ex5_make_on_device", why="copies the value onto the device: a tensor, not a variable", source='''
def make_on_device(initial_value, device):
    with tf.device(device):
        return tf.identity(initial_value)
'''),
    dict(cell="ex5_make_on_device", why="hard-codes the device of the example", source='''
def make_on_device(initial_value, device):
    with tf.device("/CPU:1"):
        return tf.Variable(initial_value)
'''),
    dict(cell="ex5_make_on_device", why="casts every value to float32", source='''
def make_on_device(initial_value, device):
    with tf.device(device):
        return tf.Variable(initial_value, dtype=tf.float32)
'''),
    # --- ex6 copy_variable ---------------------------------------------------------------
    dict(cell="ex6_copy_variable", why="returns the same object: an alias", source='''
def copy_variable(v):
    return v
'''),
    dict(cell="ex6_copy_variable", why="tf.Variable(v) does not copy trainable=False", source='''
def copy_variable(v):
    return tf.Variable(v)
'''),
    dict(cell="ex6_copy_variable", why="a snapshot tensor is not a variable", source='''
def copy_variable(v):
    return tf.identity(v)
'''),
    dict(cell="ex6_copy_variable", why="goes through NumPy floats, loses the int dtype", source='''
def copy_variable(v):
    return tf.Variable(v.numpy().astype("float32"), trainable=v.trainable)
'''),
    # --- ex7 snapshot --------------------------------------------------------------------
    dict(cell="ex7_snapshot", why="returns the variable itself, which follows later assigns",
         source='''
def snapshot(v):
    return v
'''),
    dict(cell="ex7_snapshot", why="a NumPy array is not a tf.Tensor", source='''
def snapshot(v):
    return v.numpy()
'''),
    dict(cell="ex7_snapshot", why="a copy variable is still mutable", source='''
def snapshot(v):
    return tf.Variable(v)
'''),
    # --- ex8 dense_weights ---------------------------------------------------------------
    dict(cell="ex8_dense_weights", why="the layer is never built, so it has no weights", source='''
def dense_weights(input_dim, units):
    layer = keras.layers.Dense(units)
    return list(layer.weights)
'''),
    dict(cell="ex8_dense_weights", why="own tf.Variables instead of the layer's weights",
         source='''
def dense_weights(input_dim, units):
    return [tf.Variable(tf.random.normal([input_dim, units])), tf.Variable(tf.zeros([units]))]
'''),
    dict(cell="ex8_dense_weights", why="kernel shape (units, input_dim), PyTorch's convention",
         source='''
def dense_weights(input_dim, units):
    layer = keras.layers.Dense(input_dim)
    layer.build((None, units))
    return list(layer.weights)
'''),
    dict(cell="ex8_dense_weights", why="returns a tuple, not the list the task asks for", source='''
def dense_weights(input_dim, units):
    layer = keras.layers.Dense(units)
    layer.build((None, input_dim))
    return (layer.kernel, layer.bias)
'''),
    dict(cell="ex8_dense_weights", why="built with the input dim hard-coded from the example",
         source='''
def dense_weights(input_dim, units):
    layer = keras.layers.Dense(units)
    layer.build((None, 3))
    return list(layer.weights)
'''),
]
