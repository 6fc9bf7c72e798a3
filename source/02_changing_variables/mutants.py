"""Wrong answers students really write for 02 · Changing variables in place.

Each entry replaces one solution cell (by grade id). `python -m autograder check` proves that
every one loses points on its own exercise and nowhere else. A mutant that escapes is fixed by
strengthening the hidden test, never by deleting it. The first mutant of each exercise is the
most typical one. Not released to students.
"""

MUTANTS = [
    # --- ex1 add_in_place ----------------------------------------------------------------
    dict(cell="ex1_add_in_place", why="v = v + amount rebinds the name to a new tensor", source='''
def add_in_place(v, amount):
    v = v + amount
    return v
'''),
    dict(cell="ex1_add_in_place", why="assign replaces the value instead of adding", source='''
def add_in_place(v, amount):
    v.assign(amount)
    return v
'''),
    dict(cell="ex1_add_in_place", why="returns a new variable; the given one is untouched", source='''
def add_in_place(v, amount):
    return tf.Variable(v + amount)
'''),
    dict(cell="ex1_add_in_place", why="read_value=False returns None", source='''
def add_in_place(v, amount):
    return v.assign_add(amount, read_value=False)
'''),
    dict(cell="ex1_add_in_place", why="v += amount raises RuntimeError on a variable", source='''
def add_in_place(v, amount):
    v += amount
    return v
'''),
    # --- ex2 assign_converted ------------------------------------------------------------
    dict(cell="ex2_assign_converted", why="assign does not cast a tensor of another dtype", source='''
def assign_converted(v, value):
    v.assign(value)
    return v
'''),
    dict(cell="ex2_assign_converted", why="tf.convert_to_tensor does not change a tensor's dtype",
         source='''
def assign_converted(v, value):
    v.assign(tf.convert_to_tensor(value, dtype=v.dtype))
    return v
'''),
    dict(cell="ex2_assign_converted", why="casts, then rebinds the name instead of assigning", source='''
def assign_converted(v, value):
    v = tf.cast(value, v.dtype)
    return v
'''),
    dict(cell="ex2_assign_converted", why="casts to a fixed float32 instead of v.dtype", source='''
def assign_converted(v, value):
    v.assign(tf.cast(value, tf.float32))
    return v
'''),
    dict(cell="ex2_assign_converted", why="silently reshapes the value to fit", source='''
def assign_converted(v, value):
    v.assign(tf.reshape(tf.cast(value, v.dtype), v.shape))
    return v
'''),
    dict(cell="ex2_assign_converted", why="rounds to the nearest integer instead of truncating like tf.cast",
         source='''
def assign_converted(v, value):
    value = tf.convert_to_tensor(value)
    if v.dtype.is_integer and value.dtype.is_floating:
        value = tf.round(value)
    v.assign(tf.cast(value, v.dtype))
    return v
'''),
    dict(cell="ex2_assign_converted", why="casts tensors only; lists go in unconverted", source='''
def assign_converted(v, value):
    if tf.is_tensor(value):
        value = tf.cast(value, v.dtype)
    v.assign(value)
    return v
'''),
    dict(cell="ex2_assign_converted", why="makes a new variable instead of updating v", source='''
def assign_converted(v, value):
    return tf.Variable(tf.cast(value, v.dtype))
'''),
    # --- ex3 set_entries -----------------------------------------------------------------
    dict(cell="ex3_set_entries", why="tf.tensor_scatter_nd_update returns a new tensor", source='''
def set_entries(v, indices, values):
    return tf.tensor_scatter_nd_update(v, [[i] for i in indices], values)
'''),
    dict(cell="ex3_set_entries", why="item assignment v[i] = x is a TypeError", source='''
def set_entries(v, indices, values):
    for i, x in zip(indices, values):
        v[i] = x
    return v
'''),
    dict(cell="ex3_set_entries", why="scatter_nd_add adds instead of replacing", source='''
def set_entries(v, indices, values):
    v.scatter_nd_add([[i] for i in indices], values)
    return v
'''),
    dict(cell="ex3_set_entries", why="rebinds the name to the scattered copy", source='''
def set_entries(v, indices, values):
    v = tf.tensor_scatter_nd_update(v, [[i] for i in indices], values)
    return v
'''),
    dict(cell="ex3_set_entries", why="updates the variable but returns a copy of it", source='''
def set_entries(v, indices, values):
    v.scatter_nd_update([[i] for i in indices], values)
    return tf.Variable(v)
'''),
    # --- ex4 record_values ---------------------------------------------------------------
    dict(cell="ex4_record_values", why="records the variable itself: an alias, not a snapshot",
         source='''
def record_values(v, deltas):
    history = []
    for delta in deltas:
        v.assign_add(delta)
        history.append(v)
    return history
'''),
    dict(cell="ex4_record_values", why="records the snapshot before the update", source='''
def record_values(v, deltas):
    history = []
    for delta in deltas:
        history.append(v.numpy())
        v.assign_add(delta)
    return history
'''),
    dict(cell="ex4_record_values", why="v = v + delta: right history, variable untouched", source='''
def record_values(v, deltas):
    history = []
    for delta in deltas:
        v = v + delta
        history.append(v.numpy())
    return history
'''),
    dict(cell="ex4_record_values", why="records tensors (read_value), not NumPy snapshots", source='''
def record_values(v, deltas):
    history = []
    for delta in deltas:
        v.assign_add(delta)
        history.append(v.read_value())
    return history
'''),
    # --- ex5 ema_update ------------------------------------------------------------------
    dict(cell="ex5_ema_update", why="rebinds the name: the variable never moves", source='''
def ema_update(average, x, decay):
    average = decay * average + (1.0 - decay) * x
    return average
'''),
    dict(cell="ex5_ema_update", why="decay weighs the new value instead of the old average", source='''
def ema_update(average, x, decay):
    average.assign(decay * x + (1.0 - decay) * average)
    return average
'''),
    dict(cell="ex5_ema_update", why="adds the new value's share without decaying the old", source='''
def ema_update(average, x, decay):
    average.assign_add((1.0 - decay) * x)
    return average
'''),
    dict(cell="ex5_ema_update", why="returns the result of read_value=False: None", source='''
def ema_update(average, x, decay):
    return average.assign(decay * average + (1.0 - decay) * x, read_value=False)
'''),
    dict(cell="ex5_ema_update", why="hard-codes the decay 0.9 of the example", source='''
def ema_update(average, x, decay):
    average.assign(0.9 * average + 0.1 * x)
    return average
'''),
    # --- ex6 step_counter ----------------------------------------------------------------
    dict(cell="ex6_step_counter", why="self.count = self.count + by rebinds the attribute", source='''
class StepCounter(tf.Module):
    def __init__(self):
        super().__init__()
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function
    def increment(self, by):
        self.count = self.count + by
        return self.count
'''),
    dict(cell="ex6_step_counter", why="self.count += by raises RuntimeError", source='''
class StepCounter(tf.Module):
    def __init__(self):
        super().__init__()
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function
    def increment(self, by):
        self.count += by
        return self.count
'''),
    dict(cell="ex6_step_counter", why="a Python int counter is frozen into the graph", source='''
class StepCounter(tf.Module):
    def __init__(self):
        super().__init__()
        self.count = 0

    @tf.function
    def increment(self, by):
        self.count += 1
        return self.count
'''),
    dict(cell="ex6_step_counter", why="creates the variable inside the compiled function", source='''
class StepCounter(tf.Module):
    def __init__(self):
        super().__init__()
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function
    def increment(self, by):
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)
        return self.count.assign_add(by)
'''),
    dict(cell="ex6_step_counter", why="left the counter trainable (the default)", source='''
class StepCounter(tf.Module):
    def __init__(self):
        super().__init__()
        self.count = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def increment(self, by):
        return self.count.assign_add(by)
'''),
    dict(cell="ex6_step_counter", why="one class-level variable shared by every counter", source='''
class StepCounter(tf.Module):
    count = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function
    def increment(self, by):
        return self.count.assign_add(by)
'''),
    # --- ex7 feature_max -----------------------------------------------------------------
    dict(cell="ex7_feature_max", why="creates the variable on every call (singleton error)", source='''
class FeatureMax(tf.Module):
    def __init__(self):
        super().__init__()
        self.max = None

    @tf.function
    def __call__(self, x):
        self.max = tf.Variable(tf.fill(x.shape[-1:], -np.inf), trainable=False)
        self.max.assign(tf.maximum(self.max, tf.reduce_max(x, axis=0)))
'''),
    dict(cell="ex7_feature_max", why="self.max = tf.maximum(...) rebinds the attribute", source='''
class FeatureMax(tf.Module):
    def __init__(self):
        super().__init__()
        self.max = None

    @tf.function
    def __call__(self, x):
        if self.max is None:
            self.max = tf.Variable(tf.fill(x.shape[-1:], -np.inf), trainable=False)
        self.max = tf.maximum(self.max, tf.reduce_max(x, axis=0))
'''),
    dict(cell="ex7_feature_max", why="starts the maximum at zero", source='''
class FeatureMax(tf.Module):
    def __init__(self):
        super().__init__()
        self.max = None

    @tf.function
    def __call__(self, x):
        if self.max is None:
            self.max = tf.Variable(tf.zeros(x.shape[-1:]), trainable=False)
        self.max.assign(tf.maximum(self.max, tf.reduce_max(x, axis=0)))
'''),
    dict(cell="ex7_feature_max", why="creates the variable in __init__ with a guessed size", source='''
class FeatureMax(tf.Module):
    def __init__(self):
        super().__init__()
        self.max = tf.Variable(tf.fill([2], -np.inf), trainable=False)

    @tf.function
    def __call__(self, x):
        self.max.assign(tf.maximum(self.max, tf.reduce_max(x, axis=0)))
'''),
    dict(cell="ex7_feature_max", why="left the statistic trainable", source='''
class FeatureMax(tf.Module):
    def __init__(self):
        super().__init__()
        self.max = None

    @tf.function
    def __call__(self, x):
        if self.max is None:
            self.max = tf.Variable(tf.fill(x.shape[-1:], -np.inf))
        self.max.assign(tf.maximum(self.max, tf.reduce_max(x, axis=0)))
'''),
    dict(cell="ex7_feature_max", why="returns the new maximum although the task says it returns nothing",
         source='''
class FeatureMax(tf.Module):
    def __init__(self):
        super().__init__()
        self.max = None

    @tf.function
    def __call__(self, x):
        if self.max is None:
            self.max = tf.Variable(tf.fill(x.shape[-1:], -np.inf), trainable=False)
        return self.max.assign(tf.maximum(self.max, tf.reduce_max(x, axis=0)))
'''),
    # --- ex8 feed_all --------------------------------------------------------------------
    dict(cell="ex8_feed_all", why="passes Python floats: one trace per new value", source='''
def feed_all(step, values):
    for value in values:
        step(value)
'''),
    dict(cell="ex8_feed_all", why="tf.constant without dtype: ints become int32, a second trace",
         source='''
def feed_all(step, values):
    for value in values:
        step(tf.constant(value))
'''),
    dict(cell="ex8_feed_all", why="converts the values with float(): still Python numbers", source='''
def feed_all(step, values):
    for value in values:
        step(float(value))
'''),
    dict(cell="ex8_feed_all", why="calls step once on the whole list", source='''
def feed_all(step, values):
    step(tf.reduce_sum(tf.constant(values, dtype=tf.float32)))
'''),
    dict(cell="ex8_feed_all", why="groups ints before floats: the calls come in the wrong order", source='''
def feed_all(step, values):
    ints = [value for value in values if isinstance(value, int)]
    floats = [value for value in values if not isinstance(value, int)]
    for value in ints + floats:
        step(tf.constant(value, dtype=tf.float32))
'''),
    # --- ex9 make_decayed_step -----------------------------------------------------------
    dict(cell="ex9_make_decayed_step", why="a Python counter in the closure: frozen at trace time", source='''
def make_decayed_step(w, initial_rate, decay):
    calls = 0

    @tf.function
    def step(grad):
        nonlocal calls
        rate = initial_rate * decay ** calls
        w.assign_sub(rate * grad)
        calls += 1
        return tf.constant(rate, dtype=tf.float32)

    return step
'''),
    dict(cell="ex9_make_decayed_step", why="a Python float attribute, decayed in the compiled method",
         source='''
class Decayer:
    def __init__(self, w, initial_rate, decay):
        self.w, self.rate, self.decay = w, initial_rate, decay

    def step(self, grad):
        used = self.rate
        self.w.assign_sub(used * grad)
        self.rate = used * self.decay
        return tf.constant(used, dtype=tf.float32)


def make_decayed_step(w, initial_rate, decay):
    return tf.function(Decayer(w, initial_rate, decay).step)
'''),
    dict(cell="ex9_make_decayed_step", why="creates the rate variable inside the step", source='''
def make_decayed_step(w, initial_rate, decay):
    @tf.function
    def step(grad):
        rate = tf.Variable(initial_rate, dtype=tf.float32)
        w.assign_sub(rate * grad)
        rate.assign(rate * decay)
        return rate.read_value()

    return step
'''),
    dict(cell="ex9_make_decayed_step", why="creates the rate variable lazily on the first call: two traces",
         source='''
def make_decayed_step(w, initial_rate, decay):
    state = {}

    @tf.function
    def step(grad):
        if "rate" not in state:
            state["rate"] = tf.Variable(initial_rate, dtype=tf.float32, trainable=False)
        rate = state["rate"]
        used = rate.read_value()
        w.assign_sub(used * grad)
        rate.assign(used * decay)
        return used

    return step
'''),
    dict(cell="ex9_make_decayed_step", why="decays before the first step: the first call misses initial_rate",
         source='''
def make_decayed_step(w, initial_rate, decay):
    rate = tf.Variable(initial_rate, dtype=tf.float32, trainable=False)

    @tf.function
    def step(grad):
        rate.assign(rate * decay)
        w.assign_sub(rate * grad)
        return rate.read_value()

    return step
'''),
    dict(cell="ex9_make_decayed_step", why="returns the variable: the rate after the decay, not the one used",
         source='''
def make_decayed_step(w, initial_rate, decay):
    rate = tf.Variable(initial_rate, dtype=tf.float32, trainable=False)

    @tf.function
    def step(grad):
        w.assign_sub(rate * grad)
        rate.assign(rate * decay)
        return rate

    return step
'''),
    dict(cell="ex9_make_decayed_step", why="one rate variable for every step ever made", source='''
RATE = tf.Variable(0.0, trainable=False)


def make_decayed_step(w, initial_rate, decay):
    RATE.assign(initial_rate)

    @tf.function
    def step(grad):
        used = RATE.read_value()
        w.assign_sub(used * grad)
        RATE.assign(used * decay)
        return used

    return step
'''),
    dict(cell="ex9_make_decayed_step", why="a Python wrapper passing the rate as a Python float: not compiled",
         source='''
def make_decayed_step(w, initial_rate, decay):
    calls = [0]

    @tf.function
    def apply(grad, rate):
        w.assign_sub(rate * grad)

    def step(grad):
        rate = initial_rate * decay ** calls[0]
        apply(grad, rate)
        calls[0] += 1
        return tf.constant(rate, dtype=tf.float32)

    return step
'''),
]
