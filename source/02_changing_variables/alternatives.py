"""Valid answers for 02 · Changing variables in place, other than the instructor's solution.

Each entry replaces one solution cell (by grade id) with an answer the task allows: another API,
another order, another way to write the same update. `python -m autograder check` proves that
every one scores full points on its exercise and leaves every other exercise untouched. An
alternative that loses points is fixed by a better test or a clearer task, never by deleting it.
Not released to students.
"""

ALTERNATIVES = [
    # --- ex1 add_in_place ----------------------------------------------------------------
    dict(cell="ex1_add_in_place", why="returns what assign_add returns (a variable on the same storage)",
         source='''
def add_in_place(v, amount):
    return v.assign_add(amount)
'''),
    dict(cell="ex1_add_in_place", why="assign of the sum, read explicitly", source='''
def add_in_place(v, amount):
    v.assign(tf.add(v.read_value(), amount))
    return v
'''),
    # --- ex2 assign_converted ------------------------------------------------------------
    dict(cell="ex2_assign_converted", why="NumPy's astype truncates toward zero like tf.cast", source='''
def assign_converted(v, value):
    v.assign(np.asarray(value).astype(v.dtype.as_numpy_dtype))
    return v
'''),
    dict(cell="ex2_assign_converted", why="tf.dtypes.saturate_cast (same result for values in range)",
         source='''
def assign_converted(v, value):
    return v.assign(tf.dtypes.saturate_cast(value, v.dtype))
'''),
    # --- ex3 set_entries -----------------------------------------------------------------
    dict(cell="ex3_set_entries", why="a loop of v[i].assign(x)", source='''
def set_entries(v, indices, values):
    for i, x in zip(indices, values):
        v[i].assign(x)
    return v
'''),
    dict(cell="ex3_set_entries", why="assigns a scattered copy back into v", source='''
def set_entries(v, indices, values):
    v.assign(tf.tensor_scatter_nd_update(v, tf.reshape(indices, [-1, 1]), values))
    return v
'''),
    dict(cell="ex3_set_entries", why="scatter_update with tf.IndexedSlices", source='''
def set_entries(v, indices, values):
    return v.scatter_update(tf.IndexedSlices(tf.convert_to_tensor(values, dtype=v.dtype), indices))
'''),
    # --- ex4 record_values ---------------------------------------------------------------
    dict(cell="ex4_record_values", why="a list comprehension over what assign_add returns", source='''
def record_values(v, deltas):
    return [v.assign_add(delta).numpy() for delta in deltas]
'''),
    dict(cell="ex4_record_values", why="np.array copies of a read tensor", source='''
def record_values(v, deltas):
    history = []
    for delta in deltas:
        v.assign(v + delta)
        history.append(np.array(v.read_value()))
    return history
'''),
    # --- ex5 ema_update ------------------------------------------------------------------
    dict(cell="ex5_ema_update", why="moves by (1 - decay) of the gap, with assign_sub", source='''
def ema_update(average, x, decay):
    average.assign_sub((1.0 - decay) * (average - x))
    return average
'''),
    dict(cell="ex5_ema_update", why="returns what assign returns, with tf ops", source='''
def ema_update(average, x, decay):
    return average.assign(tf.add(tf.multiply(decay, average), tf.multiply(1.0 - decay, x)))
'''),
    # --- ex6 step_counter ----------------------------------------------------------------
    dict(cell="ex6_step_counter", why="an int64 tensor as initial value; assign_add, then read", source='''
class StepCounter(tf.Module):
    def __init__(self):
        super().__init__()
        self.count = tf.Variable(tf.zeros([], dtype=tf.int64), trainable=False, name="count")

    @tf.function
    def increment(self, by):
        self.count.assign_add(by)
        return self.count.read_value()
'''),
    dict(cell="ex6_step_counter", why="assign of the sum, returns the variable", source='''
class StepCounter(tf.Module):
    def __init__(self):
        super().__init__()
        self.count = tf.Variable(np.int64(0), trainable=False)

    @tf.function
    def increment(self, by):
        self.count.assign(self.count + by)
        return self.count
'''),
    # --- ex7 feature_max -----------------------------------------------------------------
    dict(cell="ex7_feature_max", why="starts at the first batch's maximum", source='''
class FeatureMax(tf.Module):
    def __init__(self):
        super().__init__()
        self.max = None

    @tf.function
    def __call__(self, x):
        batch_max = tf.reduce_max(x, axis=0)
        if self.max is None:
            self.max = tf.Variable(batch_max, trainable=False)
        else:
            self.max.assign(tf.maximum(self.max, batch_max))
'''),
    dict(cell="ex7_feature_max", why="tf.constant(-inf, shape=...) and an update with tf.where", source='''
class FeatureMax(tf.Module):
    def __init__(self):
        super().__init__()
        self.max = None

    @tf.function
    def __call__(self, x):
        if self.max is None:
            self.max = tf.Variable(tf.constant(-np.inf, shape=[x.shape[-1]], dtype=tf.float32),
                                   trainable=False, name="max")
        batch_max = tf.reduce_max(x, axis=0)
        self.max.assign(tf.where(batch_max > self.max, batch_max, self.max))
'''),
    # --- ex8 feed_all --------------------------------------------------------------------
    dict(cell="ex8_feed_all", why="tf.convert_to_tensor with a dtype", source='''
def feed_all(step, values):
    for value in values:
        step(tf.convert_to_tensor(value, dtype=tf.float32))
'''),
    dict(cell="ex8_feed_all", why="one float32 tensor of all values, iterated", source='''
def feed_all(step, values):
    for x in tf.constant(values, dtype=tf.float32):
        step(x)
'''),
    dict(cell="ex8_feed_all", why="tf.cast of each Python number", source='''
def feed_all(step, values):
    for value in values:
        step(tf.cast(value, tf.float32))
'''),
    # --- ex9 make_decayed_step -----------------------------------------------------------
    dict(cell="ex9_make_decayed_step", why="an int64 step counter, the rate computed from it in the graph",
         source='''
def make_decayed_step(w, initial_rate, decay):
    k = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function
    def step(grad):
        rate = initial_rate * tf.pow(tf.constant(decay, tf.float32), tf.cast(k, tf.float32))
        w.assign_sub(rate * grad)
        k.assign_add(1)
        return rate

    return step
'''),
    dict(cell="ex9_make_decayed_step", why="Keras: SGD with an ExponentialDecay schedule, built outside",
         source='''
def make_decayed_step(w, initial_rate, decay):
    schedule = keras.optimizers.schedules.ExponentialDecay(initial_rate, decay_steps=1, decay_rate=decay)
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    optimizer.build([w])  # its iteration counter is the variable the schedule reads

    @tf.function
    def step(grad):
        rate = optimizer.learning_rate  # the schedule evaluated at optimizer.iterations
        optimizer.apply([grad], [w])
        return rate

    return step
'''),
    dict(cell="ex9_make_decayed_step", why="a tf.Module holding the rate, compiled as a callable",
         source='''
class DecayedStep(tf.Module):
    def __init__(self, w, initial_rate, decay):
        super().__init__()
        self.w = w
        self.decay = decay
        self.rate = tf.Variable(initial_rate, dtype=tf.float32, trainable=False)

    def __call__(self, grad):
        used = tf.identity(self.rate)
        self.w.assign_sub(used * grad)
        self.rate.assign(used * self.decay)
        return used


def make_decayed_step(w, initial_rate, decay):
    return tf.function(DecayedStep(w, initial_rate, decay))
'''),
    dict(cell="ex9_make_decayed_step", why="a float32 counter variable; the rate is decay ** counter",
         source='''
def make_decayed_step(w, initial_rate, decay):
    counter = tf.Variable(0.0, trainable=False)

    @tf.function
    def step(grad):
        rate = initial_rate * decay ** counter
        w.assign_sub(rate * grad)
        counter.assign_add(1.0)
        return rate

    return step
'''),
]
