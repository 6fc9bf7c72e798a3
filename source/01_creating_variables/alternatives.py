"""Valid answers for 01 · Creating variables, other than the instructor's solution.

Each entry replaces one solution cell (by grade id) with an answer the task allows: another API,
another order, another type of initial value. `python -m autograder check` proves that every one
scores full points on its exercise and leaves every other exercise untouched. An alternative that
loses points is fixed by a better test or a clearer task, never by deleting it. Not released to
students.
"""

ALTERNATIVES = [
    # --- ex1 make_bias -------------------------------------------------------------------
    dict(cell="ex1_make_bias", why="a float32 NumPy array as initial value", source='''
def make_bias(units):
    return tf.Variable(np.zeros(units, dtype=np.float32), name="bias")
'''),
    dict(cell="ex1_make_bias", why="a Python list of floats (float32), trainable spelt out", source='''
def make_bias(units):
    return tf.Variable([0.0] * units, trainable=True, name="bias")
'''),
    dict(cell="ex1_make_bias", why="a Keras initializer makes the value", source='''
def make_bias(units):
    return tf.Variable(keras.initializers.Zeros()(shape=(units,), dtype="float32"), name="bias")
'''),
    # --- ex2 variable_from_numpy ---------------------------------------------------------
    dict(cell="ex2_variable_from_numpy", why="converts with NumPy first", source='''
def variable_from_numpy(array):
    return tf.Variable(array.astype(np.float32))
'''),
    dict(cell="ex2_variable_from_numpy", why="tf.cast to a float32 tensor, then a variable", source='''
def variable_from_numpy(array):
    return tf.Variable(tf.cast(array, tf.float32))
'''),
    # --- ex3 make_step_counter -----------------------------------------------------------
    dict(cell="ex3_make_step_counter", why="an int64 tensor as initial value", source='''
def make_step_counter():
    return tf.Variable(tf.constant(0, dtype=tf.int64), trainable=False, name="step")
'''),
    dict(cell="ex3_make_step_counter", why="a NumPy int64 scalar, keyword arguments in another order", source='''
def make_step_counter():
    return tf.Variable(name="step", trainable=False, initial_value=np.int64(0))
'''),
    # --- ex4 make_growable_buffer --------------------------------------------------------
    dict(cell="ex4_make_growable_buffer", why="an empty list with an explicit dtype", source='''
def make_growable_buffer():
    return tf.Variable([], dtype=tf.float32, shape=tf.TensorShape(None))
'''),
    dict(cell="ex4_make_growable_buffer", why="an empty 0x0 matrix (zero elements), validate_shape too",
         source='''
def make_growable_buffer():
    return tf.Variable(np.zeros((0, 0), dtype=np.float32), shape=tf.TensorShape(None), validate_shape=False)
'''),
    # --- ex5 make_on_device --------------------------------------------------------------
    dict(cell="ex5_make_on_device", why="creates the variable in the scope, returns it after", source='''
def make_on_device(initial_value, device):
    with tf.device(device):
        variable = tf.Variable(initial_value)
    return variable
'''),
    dict(cell="ex5_make_on_device", why="a tf.DeviceSpec and a tensor made on the device first", source='''
def make_on_device(initial_value, device):
    with tf.device(tf.DeviceSpec.from_string(device)):
        value = tf.convert_to_tensor(initial_value)
        return tf.Variable(value)
'''),
    # --- ex6 copy_variable ---------------------------------------------------------------
    dict(cell="ex6_copy_variable", why="copy.deepcopy copies value, dtype and trainable", source='''
import copy

def copy_variable(v):
    return copy.deepcopy(v)
'''),
    dict(cell="ex6_copy_variable", why="through a NumPy copy of the value", source='''
def copy_variable(v):
    return tf.Variable(v.numpy(), trainable=v.trainable)
'''),
    dict(cell="ex6_copy_variable", why="tf.identity snapshot, then a variable", source='''
def copy_variable(v):
    return tf.Variable(tf.identity(v), trainable=v.trainable, name=v.name.split(":")[0])
'''),
    # --- ex7 snapshot --------------------------------------------------------------------
    dict(cell="ex7_snapshot", why="v.value()", source='''
def snapshot(v):
    return v.value()
'''),
    dict(cell="ex7_snapshot", why="tf.identity reads the variable into a new tensor", source='''
def snapshot(v):
    return tf.identity(v)
'''),
    dict(cell="ex7_snapshot", why="tf.convert_to_tensor", source='''
def snapshot(v):
    return tf.convert_to_tensor(v)
'''),
    # --- ex8 dense_weights ---------------------------------------------------------------
    dict(cell="ex8_dense_weights", why="builds the layer by calling it on a batch", source='''
def dense_weights(input_dim, units):
    layer = keras.layers.Dense(units)
    layer(tf.zeros((1, input_dim)))
    return [layer.kernel, layer.bias]
'''),
    dict(cell="ex8_dense_weights", why="builds it inside a model with keras.Input", source='''
def dense_weights(input_dim, units):
    layer = keras.layers.Dense(units)
    keras.Sequential([keras.Input(shape=(input_dim,)), layer])
    return layer.trainable_weights
'''),
]
