"""The guard's kernel half: runs inside the grading kernel, imported there by the host half's
expressions (`autograder.engine.guard`), which evaluate `install`, `before` and `after`.

It imports nothing from the grader (a kernel sees only this package and the standard library
until it imports more); its answers are JSON strings carrying the caller's nonce.
See `autograder.engine.guard` for what it checks and what it cannot.
"""

from __future__ import annotations

import json
import time
from operator import attrgetter, eq, is_not, ne

# Notebook globals that must not shadow these builtins when a test runs.
CRITICAL_BUILTINS = (
    "isinstance", "issubclass", "type", "len", "abs", "all", "any", "round", "getattr",
    "hasattr", "callable", "id", "print", "repr", "float", "int", "bool", "str", "__import__",
    "AssertionError", "Exception", "range", "sorted", "min", "max", "sum", "set", "list", "dict",
    "tuple", "zip", "map", "object", "super", "vars", "dir",
)  # fmt: skip
# Conventional names of modules in notebooks: if bound, they must be the real module.
MODULE_ALIASES = {
    "np": "numpy", "numpy": "numpy", "tf": "tensorflow", "tensorflow": "tensorflow",
    "keras": "keras", "math": "math", "os": "os", "sys": "sys", "random": "random",
    "builtins": "builtins", "unittest": "unittest", "plt": "matplotlib.pyplot",
}  # fmt: skip
# Methods a notebook-defined object can use to lie to a test.
LYING_DUNDERS = frozenset(
    {
        "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__",
        "__float__", "__int__", "__index__", "__complex__", "__abs__", "__round__",
        "__contains__", "__array__", "__array_ufunc__", "__array_function__",
        "__instancecheck__", "__subclasscheck__", "__getattr__", "__getattribute__",
        "__tf_tensor__", "__iter__", "__getitem__",
    }
)  # fmt: skip
# Shell / kernel methods that an instance attribute must never shadow.
SHELL_METHODS = (
    "showtraceback", "_showtraceback", "showsyntaxerror", "showindentationerror",
    "run_cell", "run_cell_async", "_run_cell", "run_ast_nodes", "run_code", "transform_cell",
    "transform_ast", "user_expressions", "should_run_async", "ex", "ev", "safe_execfile",
    "set_custom_exc", "get_exception_only", "_get_exc_info", "init_user_ns",
)  # fmt: skip
KERNEL_METHODS = (
    "do_execute", "execute_request", "send_response", "dispatch_shell", "process_one",
    "_publish_execute_input", "_publish_status", "finish_metadata", "init_metadata",
)  # fmt: skip
# (sys.excepthook is not here: IPython sets its own for each cell and puts the previous one back.)
SYS_HOOKS = ("displayhook", "breakpointhook", "unraisablehook", "stdout", "stderr", "stdin")
# Event callbacks from these packages are the kernel's own (matplotlib's inline backend).
TRUSTED_CALLBACK_MODULES = ("IPython", "ipykernel", "matplotlib_inline", "matplotlib", "ipywidgets")
# Packages whose functions and classes are recorded (plus the whole standard library): what a
# test cell calls and what the kernel uses to run cells and send replies.
WATCHED_ROOTS = frozenset(
    {
        "numpy", "tensorflow", "keras", "ml_dtypes", "optree", "autograder", "IPython",
        "ipykernel", "jupyter_client", "jupyter_core", "zmq", "traitlets", "tornado", "comm",
        "matplotlib_inline", "nbformat", "pytest", "_pytest",
    }
)  # fmt: skip
# Imported by the guard at kernel start when available: modules tests call that their packages
# load lazily (``np.testing`` is loaded on first attribute access), so they are recorded too.
ALWAYS_IMPORT = ("math", "unittest", "numpy", "numpy.testing", "numpy.linalg")
# TensorFlow's v1 compatibility namespaces re-export everything once more (~30k names).
UNWATCHED_PREFIXES = (
    "tensorflow._api.v2.compat", "tensorflow.compat", "tensorflow.python.keras", "tensorflow.lite",
    "tensorflow.python.tpu", "tensorflow.python.debug", "tensorflow.python.compiler.tensorrt",
    "keras._tf_keras", "xml.", "email.", "http.", "pydoc_data",
)  # fmt: skip
# Swapped by ipykernel for every execute request (stdin forwarding): not the student's doing.
PER_REQUEST = frozenset(
    {("builtins", "input"), ("builtins", "raw_input"), ("getpass", "getpass"), ("sys", "excepthook")}
)
IGNORED_NAMES = frozenset({"_", "__", "___", "__warningregistry__", "__builtins__"})
# The namespaces test cells take their helpers from. A write to one of them while a test cell
# runs is seen even when it is undone before the cell ends (`_dict_version`): a student function
# that swaps np.testing.assert_allclose for a fake that puts the real one back and passes. Other
# library modules keep mutable globals (caches, counters) that change while honest code runs.
HELPER_MODULES = frozenset(
    {
        "math", "cmath", "operator", "unittest", "unittest.case", "numpy", "numpy.testing",
        "numpy.testing._private.utils", "numpy.linalg", "numpy._core.numeric",
        "numpy._core.fromnumeric", "tensorflow", "keras",
    }
)  # fmt: skip
HELPER_PREFIXES = ("tensorflow._api.v2.", "keras.")
NOT_HELPER_PREFIXES = ("tensorflow._api.v2.compat", "keras.src", "keras._tf_keras")

_STATE = None
_VALUE = attrgetter("value")  # a ctypes view's current value


def _record(modules: dict, extra_objects=(), base=None):
    """(module records, class records) of `modules`; records of `base` (a `_Prepared`: the fork
    server's record, made before it forked this kernel) are reused while unchanged since."""
    mod_snap, classes = [], {}
    for name, m in modules.items():
        # The kernel's own start changes a few things (sys.displayhook, builtins.exit ...): those
        # modules are recorded afresh.
        if base is not None and base.unchanged_module(name, m):
            mod_snap.append(base.mod_by_name[name])
            continue
        mod_snap.append(_module_entry(name, m))
        _classes_of_module(vars(m), classes)
    _classes_of_objects(extra_objects, classes)
    cls_snap = []
    if base is not None:
        for e, unchanged in zip(base.cls_snap, base.unchanged_classes(), strict=True):
            if unchanged:
                cls_snap.append(e)
                classes.pop(_identity(e[0]), None)
            else:
                classes[_identity(e[0])] = e[0]  # changed since the server's record: afresh below
    cls_snap.extend(map(_class_entry, classes.values()))
    return mod_snap, cls_snap


def _module_entry(name: str, m) -> tuple:
    d = vars(m)
    items = [
        (k, v)
        for k, v in list(d.items())
        if k not in IGNORED_NAMES and _is_code(v) and (name, k) not in PER_REQUEST
    ]
    return (name, m, d, tuple(k for k, _ in items), tuple(v for _, v in items))


def _class_entry(c) -> tuple:
    d = c.__dict__
    items = [(k, v) for k, v in list(d.items()) if _is_code(v)]
    return (c, d, len(d), frozenset(d), tuple(k for k, _ in items), tuple(v for _, v in items))


def _classes_of_module(d: dict, into: dict) -> None:
    for v in list(d.values()):
        if isinstance(v, type) and not (v.__flags__ & (1 << 8)):  # Py_TPFLAGS_IMMUTABLETYPE
            into[_identity(v)] = v


def _classes_of_objects(objects, into: dict) -> None:
    for obj in objects:
        if obj is not None:
            for c in type(obj).__mro__:
                if c is not object and not (c.__flags__ & (1 << 8)):
                    into[_identity(c)] = c


class _Prepared:
    """The fork server's record (`prepare`) and what makes reusing it in a kernel cheap: each
    namespace's dict version when it was recorded. A namespace whose version is the same in the
    kernel is unchanged (read in one C loop, instead of comparing its ~80,000 entries), and the
    kernel reuses the ctypes views that read those versions (see `_Pristine._track_versions`)."""

    def __init__(self, mod_snap, cls_snap) -> None:
        self.mod_snap, self.cls_snap = mod_snap, cls_snap
        self.mod_by_name = {e[0]: e for e in mod_snap}
        self.versions = _dict_versions_work()
        if self.versions:
            self.mod_views = {e[0]: _dict_version_view(e[2]) for e in mod_snap}
            self.mod_at = {name: view.value for name, view in self.mod_views.items()}
            self.cls_views = [_class_version_view(e[0]) for e in cls_snap]
            self.cls_at = list(map(_VALUE, self.cls_views))
            self.cls_view_of = {
                _identity(e[0]): (e, v) for e, v in zip(cls_snap, self.cls_views, strict=True)
            }
        self.inherited = True  # until `prepare` has made what `inherit` needs

    def inherit(self, modules: dict, extra_objects) -> _Inherited | None:
        """The kernel's record, made from this one in place (a forked kernel owns its copy of it,
        and the server never uses it again): only the namespaces written since the server
        recorded them (two `_Words` reads find them) and what is new since are recorded afresh,
        where `_record` walks every module and class (~25 ms a kernel). None when it cannot be
        done that way (a recorded module replaced or gone, no dict versions, a second call)."""
        if not self.versions or self.inherited:
            return None
        self.inherited = True
        if any(map(is_not, map(modules.get, self.mod_names), self.mod_modules)):
            return None
        import types

        new = {
            n: m
            for n in modules.keys() - self.all_names
            if isinstance(m := modules.get(n), types.ModuleType) and _watched_module(n)
        }
        mod_snap, cls_snap = self.mod_snap, self.cls_snap  # patched in place from here on
        out = _Inherited(self.watched, self.module_globals, self.helper_dicts, self.trusted_classes)
        classes: dict = {}
        for i in self.mod_words.changed(self.mod_words.read()):
            mod_snap[i] = _module_entry(mod_snap[i][0], mod_snap[i][1])
            _classes_of_module(mod_snap[i][2], classes)
            self.mod_words.see(i)
        mod_views = list(self.mod_views_list)
        for name, m in new.items():
            out.modules[name] = m
            out.module_globals.add(id(vars(m)))
            if _helper_namespace(name):
                out.helper_dicts.append((name, vars(m)))
            mod_snap.append(_module_entry(name, m))
            _classes_of_module(vars(m), classes)
            mod_views.append(_dict_version_view(vars(m)))
            self.mod_words.add(_address_of(mod_views[-1]))
        for i in self.cls_words.changed(self.cls_words.read()):
            cls_snap[i] = _class_entry(cls_snap[i][0])
            self.cls_words.see(i)
        _classes_of_objects(extra_objects, classes)
        cls_views = list(self.cls_views)
        for key, c in classes.items():
            if key not in self.cls_index:
                out.trusted_classes.add(id(c))
                cls_snap.append(_class_entry(c))
                cls_views.append(_class_version_view(c))
                self.cls_words.add(_address_of(cls_views[-1]))
        out.mod_snap, out.cls_snap = mod_snap, cls_snap
        out.mod_versions, out.cls_versions = tuple(mod_views), tuple(cls_views)
        out.mod_clean, out.cls_clean = self.mod_words, self.cls_words
        return out

    def unchanged_module(self, name: str, m) -> bool:
        prev = self.mod_by_name.get(name)
        if prev is None or prev[1] is not m:
            return False
        if self.versions:
            return self.mod_views[name].value == self.mod_at[name]
        return not any(map(is_not, map(prev[2].get, prev[3]), prev[4]))

    def unchanged_classes(self) -> list[bool]:
        if self.versions:
            return list(map(eq, map(_VALUE, self.cls_views), self.cls_at))
        return [
            len(d) == n and not any(map(is_not, map(d.get, keys), vals))
            for _, d, n, _, keys, vals in self.cls_snap
        ]

    def module_view(self, entry):
        """The version view made here for this module record, if the kernel reuses the record."""
        if self.versions and self.mod_by_name.get(entry[0]) is entry:
            return self.mod_views[entry[0]]
        return None

    def class_view(self, entry):
        if self.versions:
            known = self.cls_view_of.get(_identity(entry[0]))
            if known is not None and known[0] is entry:
                return known[1]
        return None


_PREPARED = None


def prepare() -> None:
    """Record the loaded libraries now (in a fork server, after its preloads, before it forks).

    Forked kernels inherit the record, so `install` only adds what the kernel loaded since:
    the guard's start costs milliseconds instead of a second per notebook.
    """
    global _PREPARED
    import importlib
    import sys
    import types

    for name in ALWAYS_IMPORT:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    modules = {n: m for n, m in list(sys.modules.items()) if isinstance(m, types.ModuleType)}
    watched = {n: m for n, m in modules.items() if _watched_module(n)}
    _PREPARED = _Prepared(*_record(watched))
    if _PREPARED.versions:  # what `_Prepared.inherit` starts from
        p = _PREPARED
        p.all_names = frozenset(modules)
        p.watched = watched
        p.module_globals = {id(vars(m)) for m in watched.values()}
        p.helper_dicts = [(n, vars(m)) for n, m in watched.items() if _helper_namespace(n)]
        p.mod_names = tuple(e[0] for e in p.mod_snap)
        p.mod_modules = tuple(e[1] for e in p.mod_snap)
        p.mod_views_list = tuple(p.mod_views[e[0]] for e in p.mod_snap)
        p.mod_words = _Words.of(list(map(_address_of, p.mod_views_list)))
        p.cls_words = _Words.of(list(map(_address_of, p.cls_views)))
        p.cls_index = frozenset(_identity(e[0]) for e in p.cls_snap)
        p.trusted_classes = {id(e[0]) for e in p.cls_snap}
        p.inherited = False
    _PREPARED.tree = _ClassTree() if _subclass_slots_work() else None
    _PREPARED.looked = None
    if _PREPARED.tree is not None and _PREPARED.versions:
        trusted = {_identity(e[0]) for e in _PREPARED.cls_snap}
        _PREPARED.looked = _first_look(_PREPARED.tree.classes, trusted)


class _Inherited:
    """The part of `_Pristine` that `_Prepared.inherit` makes."""

    def __init__(self, modules: dict, module_globals: set, helper_dicts: list, trusted_classes: set) -> None:
        self.modules, self.module_globals, self.helper_dicts = modules, module_globals, helper_dicts
        self.trusted_classes = trusted_classes
        self.mod_snap = self.cls_snap = self.mod_versions = self.cls_versions = None
        self.mod_clean = self.cls_clean = None


class _Pristine:
    """What trusted state looked like at kernel start, and how to put it back."""

    def __init__(self, shell):
        import builtins
        import sys
        import threading
        import types

        self.shell = shell
        self.kernel = getattr(shell, "kernel", None)
        self.user_ns = shell.user_ns
        self.builtin_values = {n: getattr(builtins, n) for n in CRITICAL_BUILTINS if hasattr(builtins, n)}
        self.lazy_accepted: set[str] = set()
        extra = [shell, self.kernel, getattr(shell, "compile", None), shell.displayhook]
        # Modules loaded now are trusted code; those a test or the kernel relies on are recorded.
        inherited = _PREPARED.inherit(sys.modules, extra) if _PREPARED is not None else None
        self.inherited = inherited is not None
        if inherited is not None:
            vars(self).update(vars(inherited))
        else:
            self.modules = {
                name: m
                for name, m in list(sys.modules.items())
                if isinstance(m, types.ModuleType) and _watched_module(name)
            }
            self.module_globals = {id(vars(m)) for m in self.modules.values()}
            self.helper_dicts = [(n, vars(m)) for n, m in self.modules.items() if _helper_namespace(n)]
            self.mod_snap, self.cls_snap = _record(self.modules, extra, _PREPARED)
            self._track_versions()
            self.trusted_classes = {id(e[0]) for e in self.cls_snap}
        self._flatten()
        self.sys_modules = dict(self.modules)
        # (sys.modules, a view of its dict version, the version when last found clean)
        self.sys_modules_version = None
        if self.mod_versions is not None:
            view = _dict_version_view(sys.modules)
            self.sys_modules_version = (sys.modules, view, None)  # None: compare at the first check
        self.sys_hooks = {h: getattr(sys, h, None) for h in SYS_HOOKS}
        self.meta_path = list(sys.meta_path)
        self.path_hooks = list(sys.path_hooks)
        self.threading_hooks = (
            getattr(threading, "_trace_hook", None),
            getattr(threading, "_profile_hook", None),
        )
        self.builtins = builtins
        # IPython state (ipykernel itself leaves some instance attributes, e.g. _showtraceback).
        self.shell_overrides = {k: vars(shell)[k] for k in SHELL_METHODS if k in vars(shell)}
        self.custom_exc = (shell.custom_exceptions, vars(shell).get("CustomTB"))
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}
        self.transformer_lists = {
            "input_transformers_cleanup": list(shell.input_transformers_cleanup),
            "input_transformers_post": list(shell.input_transformers_post),
            "ast_transformers": list(shell.ast_transformers),
        }
        itm = shell.input_transformer_manager
        self.itm = itm
        self.itm_lists = {
            k: list(getattr(itm, k)) for k in ("cleanup_transforms", "line_transforms", "token_transformers")
        }
        pm = shell.prefilter_manager
        self.prefilter = (
            pm,
            list(pm._transformers),
            list(pm._checkers),
            dict(pm._handlers),
            dict(pm._esc_handlers),
        )
        self.shell_objs = {
            k: getattr(shell, k, None)
            for k in ("compile", "displayhook", "display_pub", "InteractiveTB", "SyntaxTB",
                      "input_transformer_manager", "prefilter_manager", "history_manager", "events",
                      "builtin_trap", "display_trap")
        }  # fmt: skip
        self.kernel_objs = {}
        self.kernel_overrides = {}
        if self.kernel is not None:
            kd = vars(self.kernel)
            self.kernel_overrides = {k: kd[k] for k in KERNEL_METHODS if k in kd}
            self.kernel_objs = {
                k: getattr(self.kernel, k, None) for k in ("session", "shell", "iopub_socket", "iopub_thread")
            }
            self.shell_handlers = dict(getattr(self.kernel, "shell_handlers", {}))
            self.control_handlers = dict(getattr(self.kernel, "control_handlers", {}))

    def _flatten(self) -> None:
        """Without dict versions: one flat (container, key, value) table per kind, so that the
        no-change case is a single C loop."""
        import types

        if self.mod_versions is not None:
            return
        self.flat_mod = (
            tuple(d for _, _, d, keys, _ in self.mod_snap for _ in keys),
            tuple(k for _, _, _, keys, _ in self.mod_snap for k in keys),
            tuple(v for _, _, _, _, vals in self.mod_snap for v in vals),
        )
        self.flat_cls = (
            tuple(d for _, d, _, _, keys, _ in self.cls_snap for _ in keys),
            tuple(k for _, _, _, _, keys, _ in self.cls_snap for k in keys),
            tuple(v for _, _, _, _, _, vals in self.cls_snap for v in vals),
        )
        self.cls_dicts = tuple(d for _, d, _, _, _, _ in self.cls_snap)
        self.cls_lens = tuple(n for _, _, n, _, _, _ in self.cls_snap)
        self._proxy_get = types.MappingProxyType.get

    def _track_versions(self) -> None:
        """Remember each recorded namespace's dict version (PEP 509) now, while it is pristine.

        A check then compares entries only in the namespaces written since they were last found
        pristine: ~7,000 version reads instead of ~100,000 entry comparisons (~35 ms) per check.
        Each version is read through a ctypes view made once here: ``id()`` and ``from_address``
        raise audit events, so calling them per read would run the guard's audit hook each time.
        Without usable versions (not CPython 3.6-3.12) every check compares every entry.
        """
        if not _dict_versions_work():
            self.mod_versions = self.cls_versions = None
            return
        prepared = _PREPARED if _PREPARED is not None and _PREPARED.versions else None

        def reuse(view, make, arg):
            return make(arg) if view is None else view

        self.mod_versions = tuple(
            reuse(prepared and prepared.module_view(e), _dict_version_view, e[2]) for e in self.mod_snap
        )
        self.cls_versions = tuple(
            reuse(prepared and prepared.class_view(e), _class_version_view, e[0]) for e in self.cls_snap
        )
        # Each version as last found pristine, all read at once per check (`_Words`).
        self.mod_clean = _Words.of(list(map(_address_of, self.mod_versions)))
        self.cls_clean = _Words.of(list(map(_address_of, self.cls_versions)))

    @staticmethod
    def _stale(clean: _Words) -> list[int]:
        """Indexes of the namespaces written since they were last found pristine."""
        return clean.changed(clean.read())

    # -- checks: each returns reasons and (when restore) puts pristine state back --

    def check(self, restore: bool) -> list[str]:
        reasons = []
        for part in (self._modules, self._classes, self._sys, self._ipython, self._kernel, self._namespace):
            try:
                reasons += part(restore)
            except Exception as e:  # a broken check is itself suspicious
                reasons.append(f"guard check {part.__name__} failed: {type(e).__name__}: {e}")
        return reasons

    def _modules(self, restore):
        import sys

        out = []
        if self.mod_versions is not None:
            stale = self._stale(self.mod_clean)
        else:
            dicts, keys_, vals_ = self.flat_mod
            changed = any(map(is_not, map(dict.get, dicts, keys_), vals_))  # one C loop, ~80k entries
            stale = range(len(self.mod_snap)) if changed else ()
        accepted = False
        for i in stale:
            name, m, d, keys, vals = self.mod_snap[i]
            pristine = True
            if any(map(is_not, map(d.get, keys), vals)):
                for k, v in zip(keys, vals, strict=True):
                    cur = d.get(k, _MISSING)
                    if cur is v:
                        continue
                    if _same_lazy_module(v, cur):  # accept the real module into the record
                        vals = tuple(cur if kk == k else vv for kk, vv in zip(keys, vals, strict=True))
                        self.mod_snap[i] = (name, m, d, keys, vals)
                        self.lazy_accepted.add(name)
                        accepted = True
                        continue
                    out.append(
                        f"{name}.{k} was replaced" if cur is not _MISSING else f"{name}.{k} was deleted"
                    )
                    if restore:
                        d[k] = v
                    else:
                        pristine = False
            if pristine and self.mod_versions is not None:
                self.mod_clean.see(i)
        if accepted:
            self._flatten()
        # sys.modules is compared entry by entry (~2,000) only when written since last found clean.
        known = self.sys_modules_version
        if known is not None and sys.modules is known[0] and known[1].value == known[2]:
            return out
        replaced = False
        for name, m in self.sys_modules.items():
            cur = sys.modules.get(name)
            if cur is not m and cur is not None:
                out.append(f"sys.modules[{name!r}] was replaced")
                replaced = True
                if restore:
                    sys.modules[name] = m
        if known is not None and sys.modules is known[0] and (restore or not replaced):
            self.sys_modules_version = (known[0], known[1], known[1].value)
        return out

    def _classes(self, restore):
        out = []
        if self.cls_versions is not None:
            stale = self._stale(self.cls_clean)
        else:
            dicts, keys_, vals_ = self.flat_cls
            changed = any(map(is_not, map(self._proxy_get, dicts, keys_), vals_)) or any(
                map(ne, map(len, self.cls_dicts), self.cls_lens)
            )
            stale = range(len(self.cls_snap)) if changed else ()
        grown = False
        for i in stale:
            c, d, n, allkeys, keys, vals = self.cls_snap[i]
            pristine = True
            if len(d) != n or any(map(is_not, map(d.get, keys), vals)):
                if len(d) != n:
                    grown = True
                snap = dict(zip(keys, vals, strict=True))
                for k, v in snap.items():
                    cur = d.get(k, _MISSING)
                    if cur is not v:
                        how = "replaced" if cur is not _MISSING else "deleted"
                        out.append(f"{c.__module__}.{c.__qualname__}.{k} was {how}")
                        if restore:
                            setattr(c, k, v)
                        else:
                            pristine = False
                for k in [k for k in list(d) if k not in allkeys]:
                    if _is_code(d[k]):  # lazily added data (__annotations__, __slotnames__) is fine
                        out.append(f"{c.__module__}.{c.__qualname__}.{k} was added")
                        if restore:
                            delattr(c, k)
                        else:
                            pristine = False
                if len(d) != n and all(not _is_code(d[k]) for k in d if k not in allkeys):
                    self.cls_snap[i] = (c, d, len(d), frozenset(d), keys, vals)  # accept lazy data
            if pristine and self.cls_versions is not None:
                self.cls_clean.see(i)
        if grown:
            self._flatten()
        return out

    def _sys(self, restore):
        import sys
        import threading

        out = []
        if sys.gettrace() is not None:
            out.append("sys.settrace was used")
            if restore:
                sys.settrace(None)
        if sys.getprofile() is not None:
            out.append("sys.setprofile was used")
            if restore:
                sys.setprofile(None)
        if (
            getattr(threading, "_trace_hook", None),
            getattr(threading, "_profile_hook", None),
        ) != self.threading_hooks:
            out.append("threading.settrace/setprofile was used")
            if restore:
                threading.settrace(self.threading_hooks[0])
                threading.setprofile(self.threading_hooks[1])
        for h, v in self.sys_hooks.items():
            if getattr(sys, h, None) is not v:
                out.append(f"sys.{h} was replaced")
                if restore:
                    setattr(sys, h, v)
        if sys.meta_path != self.meta_path or sys.path_hooks != self.path_hooks:
            out.append("import hooks (sys.meta_path / sys.path_hooks) were changed")
            if restore:
                sys.meta_path[:] = self.meta_path
                sys.path_hooks[:] = self.path_hooks
        if _blocked_audit_hooks:
            out.append(f"sys.addaudithook was called {len(_blocked_audit_hooks)} time(s) (blocked)")
            if restore:
                _blocked_audit_hooks.clear()
        return out

    def _ipython(self, restore):
        sh = self.shell
        out = []
        for k in SHELL_METHODS:
            if vars(sh).get(k, _MISSING) is not self.shell_overrides.get(k, _MISSING):
                out.append(f"the shell's {k} was overridden")
                if restore:
                    if k in self.shell_overrides:
                        setattr(sh, k, self.shell_overrides[k])
                    else:
                        delattr(sh, k)
        if (sh.custom_exceptions, vars(sh).get("CustomTB")) != self.custom_exc:
            out.append("set_custom_exc was used to handle exceptions")
            if restore:
                sh.custom_exceptions = self.custom_exc[0]
                if self.custom_exc[1] is None:
                    vars(sh).pop("CustomTB", None)
                else:
                    sh.CustomTB = self.custom_exc[1]
        for k, v in self.shell_objs.items():
            if getattr(sh, k, None) is not v:
                out.append(f"the shell's {k} was replaced")
                if restore:
                    setattr(sh, k, v)
        for k, v in self.transformer_lists.items():
            cur = getattr(sh, k)
            if list(cur) != v:
                out.append(f"{k} were changed")
                if restore:
                    cur[:] = v
        for k, v in self.itm_lists.items():
            cur = getattr(self.itm, k)
            if list(cur) != v:
                out.append(f"input_transformer_manager.{k} were changed")
                if restore:
                    cur[:] = v
        pm, tr, ch, hd, esc = self.prefilter
        if (
            list(pm._transformers) != tr
            or list(pm._checkers) != ch
            or dict(pm._handlers) != hd
            or dict(pm._esc_handlers) != esc
        ):
            out.append("prefilter transformers/checkers were changed")
            if restore:
                pm._transformers[:] = tr
                pm._checkers[:] = ch
                pm._handlers.clear()
                pm._handlers.update(hd)
                pm._esc_handlers.clear()
                pm._esc_handlers.update(esc)
        cbs = sh.events.callbacks
        for event, funcs in cbs.items():
            pristine = self.events.get(event, [])
            foreign = [f for f in funcs if f not in pristine and not _trusted_callback(f)]
            if foreign:
                out.append(f"a {event!r} event callback was registered")
                if restore:
                    funcs[:] = [f for f in funcs if f not in foreign]
            missing = [f for f in pristine if f not in funcs]
            if missing and restore:
                funcs[:0] = missing
        return out

    def _kernel(self, restore):
        k = self.kernel
        out = []
        if k is None:
            return out
        for name in KERNEL_METHODS:
            if vars(k).get(name, _MISSING) is not self.kernel_overrides.get(name, _MISSING):
                out.append(f"the kernel's {name} was overridden")
                if restore:
                    if name in self.kernel_overrides:
                        setattr(k, name, self.kernel_overrides[name])
                    else:
                        delattr(k, name)
        for name, v in self.kernel_objs.items():
            if getattr(k, name, None) is not v:
                out.append(f"the kernel's {name} was replaced")
                if restore:
                    setattr(k, name, v)
        for attr, snap in (
            ("shell_handlers", self.shell_handlers),
            ("control_handlers", self.control_handlers),
        ):
            cur = getattr(k, attr, None)
            if cur is not None and {n: cur.get(n) for n in snap} != snap:
                out.append(f"the kernel's {attr} were changed")
                if restore:
                    cur.update(snap)
        return out

    def _namespace(self, restore):
        import sys

        ns = self.user_ns
        out = []
        b = vars(self.builtins)
        for name in CRITICAL_BUILTINS:
            if name in ns and ns[name] is not b.get(name) and callable(ns[name]):
                out.append(f"the notebook redefined the builtin {name!r}")
                if restore:
                    del ns[name]
        bi = ns.get("__builtins__")
        if bi is not None and bi is not self.builtins and bi is not b:
            out.append("the notebook replaced __builtins__")
            if restore:
                ns["__builtins__"] = self.builtins
        for alias, modname in MODULE_ALIASES.items():
            if alias in ns:
                real = self.sys_modules.get(modname) or sys.modules.get(modname)
                if (
                    real is not None
                    and ns[alias] is not real
                    and _looks_like_module_stand_in(ns[alias], real)
                ):
                    out.append(f"the notebook bound {alias!r} to something that is not the module {modname}")
                    if restore:
                        ns[alias] = real
        return out


class _Missing:
    pass


_MISSING = _Missing()
_blocked_audit_hooks: list[str] = []
_watched: dict = {
    "dunders": set(), "user_globals": None, "trusted": set(), "in_test": False, "type_writes": set(),
    "liars": set(), "trusted_classes": set(), "trusted_keys": set(), "versions_ok": False,
    "wrapped": [], "built": set(), "dunder_errors": [], "main_thread": None, "clean": None, "static": set(),
    "unsettled": None,
}  # fmt: skip


def _watched_module(name: str) -> bool:
    import sys

    root = name.split(".")[0]
    if name == "__main__" or name.startswith(UNWATCHED_PREFIXES):
        return False
    return root in WATCHED_ROOTS or root in sys.stdlib_module_names


def _is_code(v) -> bool:
    import types

    return isinstance(
        v,
        (types.FunctionType, types.BuiltinFunctionType, type, types.MethodType, staticmethod,
         classmethod, property, types.ModuleType),
    ) or (callable(v) and not isinstance(v, (int, float, str, bytes)))  # fmt: skip


def _same_lazy_module(old, new) -> bool:
    """TensorFlow's lazy loaders are replaced by the real module on first use: not tampering."""
    import types

    return (
        isinstance(old, types.ModuleType)
        and isinstance(new, types.ModuleType)
        and getattr(old, "__name__", None) == getattr(new, "__name__", None)
    )


def _looks_like_module_stand_in(value, real) -> bool:
    import types

    # Rebinding `np` to some unrelated value (a number, an array) is a bug, not an attack; an
    # object that mimics the module (another module, or one carrying the module's attributes) is.
    if isinstance(value, types.ModuleType):
        return True
    names = ("testing", "allclose", "debugging", "Variable", "isclose", "Layer")
    return any(hasattr(real, n) and hasattr(value, n) for n in names)


def _trusted_callback(f) -> bool:
    mod = getattr(f, "__module__", None) or getattr(getattr(f, "__func__", None), "__module__", "") or ""
    return mod.split(".")[0] in TRUSTED_CALLBACK_MODULES


def _audit(event, args):
    if event == "sys.addaudithook":
        _blocked_audit_hooks.append(event)
        raise RuntimeError("audit hooks are not allowed while grading")
    # A method set on (or deleted from) a trusted class while a test runs, even if put back later.
    if _watched["in_test"] and event in ("object.__setattr__", "object.__delattr__"):
        target = args[0]
        if isinstance(target, type) and id(target) in _watched["trusted_classes"]:
            if event == "object.__delattr__" or _is_code(args[2]):
                _watched["type_writes"].add(f"{target.__module__}.{target.__qualname__}.{args[1]}")


def _installed_module_globals(g) -> bool:
    """Are these the globals of a module installed with Python (not notebook-made code)?"""
    import os
    import sys

    m = sys.modules.get(g.get("__name__", None) or "")
    if m is None or getattr(m, "__dict__", None) is not g:
        return False
    f = getattr(m, "__file__", None)
    if not f:
        return False
    f = os.path.realpath(f)
    ok = any(f.startswith(os.path.realpath(p) + os.sep) for p in {sys.prefix, sys.base_prefix})
    if ok:
        _watched["trusted"].add(id(g))  # cache: later calls take the fast path
    return ok


# --- lying dunders: comparison-like methods the notebook defined, called by a test ---------------
# Each such method of a notebook-made class is swapped for a recording wrapper while a test cell
# runs (and put back after it): the cost falls only on calls of those methods. A profile function
# (the former design) put CPython in tracing mode for the whole test: TensorFlow-heavy tests ran
# about twice as slow.

_TYPE_DICT = type.__dict__["__dict__"].__get__  # a class's own namespace; no metaclass can intercept it
_TYPE_NAME = type.__dict__["__qualname__"].__get__
_TYPE_FLAGS = type.__dict__["__flags__"].__get__
_IMMUTABLE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: a static (C) type, nothing to wrap
_subclasses = type.__subclasses__
_identity = object.__hash__  # an identity key that raises no audit event (``id`` does)


def _all_classes() -> dict:
    """Every live class, by identity (``object`` and all its subclasses): ~12,000 in a kernel with
    TensorFlow, ~8 ms. Used where `_ClassTree` cannot read CPython's slots, and to check it."""
    found, todo = {_identity(object): object}, [object]
    while todo:
        for c in _subclasses(todo.pop()):
            k = _identity(c)
            if k not in found:
                found[k] = c
                todo.append(c)
    return found


# offsetof(PyTypeObject, tp_subclasses) on 64-bit CPython 3.11: after tp_base (256), tp_dict,
# tp_descr_get/set, tp_dictoffset, tp_init, tp_alloc, tp_new, tp_free, tp_is_gc, tp_bases (336),
# tp_mro (344) and tp_cache. `_subclass_slots_work` checks it before anything reads it.
_TP_BASE, _TP_BASES, _TP_MRO, _TP_SUBCLASSES = 256, 336, 344, 360


def _subclass_slots_work() -> bool:
    """Can `_ClassTree` read CPython's ``tp_subclasses`` slot here? Only on 64-bit CPython 3.11
    (3.12 keeps static types' subclasses elsewhere), and only if the slots around it hold what
    they must on fresh classes."""
    import ctypes
    import sys

    if (
        sys.implementation.name != "cpython"
        or sys.version_info[:2] != (3, 11)
        or ctypes.sizeof(ctypes.c_void_p) != 8
    ):
        return False
    try:
        a = type("_GuardProbeA", (), {})
        at = id(a)
        pointer = ctypes.c_void_p.from_address
        if (
            pointer(at + _TP_BASE).value != id(object)
            or pointer(at + _TP_BASES).value != id(a.__bases__)
            or pointer(at + _TP_MRO).value != id(a.__mro__)
            or pointer(at + _TP_SUBCLASSES).value is not None
        ):
            return False
        b = type("_GuardProbeB", (a,), {})
        slot = pointer(at + _TP_SUBCLASSES).value
        if slot is None:
            return False
        subclasses = ctypes.cast(slot, ctypes.py_object).value
        if type(subclasses) is not dict or [r() for r in subclasses.values()] != [b]:
            return False
        before = _dict_version(subclasses)
        c = type("_GuardProbeC", (a,), {})
        grown = [r() for r in subclasses.values()] == [b, c] and _dict_version(subclasses) != before
        return grown and pointer(at + _TP_SUBCLASSES).value == slot
    except Exception:
        return False


class _Words:
    """The 8-byte words at many fixed addresses (PEP 509 dict versions, ``tp_subclasses`` slots),
    read all at once, each with the value it had when last seen.

    With NumPy already loaded (never imported for this), a read is one gather through a
    read-only array laid over the address space: no Python object per word is touched, so a
    forked kernel copies none of the fork server's pages for it (a ctypes view per word, the
    fallback, takes a reference to each view: ~17,000 page copies in a kernel's first read).
    Whoever adds an address keeps the object it lies in alive.
    """

    _space = None  # the NumPy view of the address space, once made

    def __init__(self) -> None:
        import sys

        self._np = sys.modules.get("numpy")
        self._addresses: list[int] = []
        self._seen: list[int] = []
        if self._np is not None and _Words._space is None:
            _Words._space = self._np.asarray(_AddressSpace())
        self._index = self._seen_array = None  # NumPy copies of the lists, made when needed
        self._views: list = []  # without NumPy

    @classmethod
    def of(cls, addresses: list[int]) -> _Words:
        """Words watching `addresses`, each seen holding its value now (read all at once)."""
        words = cls()
        if addresses:
            words._outside_the_array(min(addresses))
            words._outside_the_array(max(addresses))
        words._addresses = list(addresses)
        if words._np is None:
            words._views = [_uint64_view(a) for a in addresses]
            words._seen = list(map(_VALUE, words._views))
        else:
            words._seen = words.read().tolist()
        return words

    def add(self, address: int) -> int:
        """Watch the word at `address`; its value now (seen)."""
        self._outside_the_array(address)
        seen = _uint64_view(address).value
        self._addresses.append(address)
        self._seen.append(seen)
        self._index = self._seen_array = None
        if self._np is None:
            self._views.append(_uint64_view(address))
        return seen

    def point(self, i: int, address: int) -> None:
        """Word `i` now lives at `address` (what was seen stays as it was)."""
        self._outside_the_array(address)
        self._addresses[i] = address
        self._index = None
        if self._np is None:
            self._views[i] = _uint64_view(address)

    def _outside_the_array(self, address: int) -> None:
        """An address the NumPy array does not cover (5-level paging can hand out addresses above
        2**47): from now on these words are read through ctypes views."""
        if self._np is not None and not 8 <= address < _ADDRESS_LIMIT:
            self._np = self._index = self._seen_array = None
            self._views = [_uint64_view(a) for a in self._addresses]

    def see(self, i: int, value: int | None = None) -> None:
        """Word `i` was seen holding `value` (by default: what it holds now)."""
        if value is None:
            value = _uint64_view(self._addresses[i]).value
        self._seen[i] = value
        if self._seen_array is not None:
            self._seen_array[i] = value

    def read(self):
        """Every word's value now (an array, or a list without NumPy)."""
        if self._np is None:
            return list(map(_VALUE, self._views))
        if self._index is None:
            self._index = self._np.array(self._addresses, dtype=self._np.int64) // 8 - 1
        return _Words._space[self._index]

    def changed(self, values) -> list[int]:
        """Indexes of the words whose value in `values` (a `read`) is not the one last seen."""
        if self._np is None:
            from itertools import compress

            return list(compress(range(len(values)), map(ne, values, self._seen)))
        if self._seen_array is None:
            self._seen_array = self._np.array(self._seen, dtype=self._np.uint64)
        return self._np.flatnonzero(values != self._seen_array).tolist()


_ADDRESS_LIMIT = 1 << 47  # what the NumPy array of `_Words` covers


class _AddressSpace:
    """What NumPy needs to lay a read-only uint64 array over the whole 47-bit address space
    (starting at address 8: NumPy takes a null data pointer for "no data"). Nothing is read
    until an index is."""

    __array_interface__ = {
        "shape": (_ADDRESS_LIMIT // 8 - 1,), "typestr": "<u8", "data": (8, True), "version": 3,
    }  # fmt: skip


def _address_of(view) -> int:
    import ctypes

    return ctypes.addressof(view)


def _uint64_view(address: int):
    import ctypes

    return ctypes.c_uint64.from_address(address)


_VERSION_OFFSET = 24  # offsetof(PyDictObject, ma_version_tag) on 64-bit CPython 3.6-3.12


class _ClassTree:
    """Every live class (``object`` and all its subclasses), kept up to date cheaply.

    A class's subclasses are listed again only when its own list of them changed: CPython keeps
    that list in the class's ``tp_subclasses`` slot (a dict, or NULL), so reading the slot and
    the dict's PEP 509 version for every known class (`_Words`: ~0.1 ms for ~9,000 classes with
    NumPy) finds the few classes to look at, where listing every class's subclasses costs ~8 ms
    in a kernel. Made once in the fork server (`prepare`): a forked kernel's first refresh only
    adds what it made since. Known classes and their subclass dicts are kept alive (so every
    slot and version read is of live memory, and a key stays its class's own), as
    `_start_watch`'s memo keeps classes.
    """

    def __init__(self) -> None:
        import ctypes

        self._zero = ctypes.c_uint64(0)  # the "version" of a class without subclasses
        self.classes: dict = {}
        self._order: list = []
        self._dicts: list = []
        self._slots = _Words()  # each class's tp_subclasses slot
        self._versions = _Words()  # the version of that subclass dict (or of `_zero`)
        self._add_tree(object)

    def _version_address(self, slot: int):
        """(the subclass dict a slot points to or None, the address of its version)."""
        import ctypes

        if not slot:
            return None, ctypes.addressof(self._zero)
        d = ctypes.cast(slot, ctypes.py_object).value
        return d, id(d) + _VERSION_OFFSET

    def _add_tree(self, root) -> set:
        """Add `root` and every class below it not known yet; their keys."""
        added, todo = set(), [root]
        while todo:
            c = todo.pop()
            k = _identity(c)
            if k in self.classes:
                continue
            slot = self._slots.add(id(c) + _TP_SUBCLASSES)
            d, version_address = self._version_address(slot)
            self.classes[k] = c
            self._order.append(c)
            self._dicts.append(d)
            self._versions.add(version_address)  # (read before listing: a later change shows)
            added.add(k)
            todo.extend(_subclasses(c))
        return added

    def refresh(self) -> set:
        """Bring `classes` up to date; the keys of the classes added."""
        slots, versions = self._slots.read(), self._versions.read()
        stale = set(self._slots.changed(slots)).union(self._versions.changed(versions))
        added = set()
        for i in stale:
            slot = int(slots[i])
            d, version_address = self._version_address(slot)
            if d is not self._dicts[i]:
                self._slots.see(i, slot)
                self._dicts[i] = d
                self._versions.point(i, version_address)
            self._versions.see(i)
            subs = _subclasses(self._order[i])  # (``object`` has thousands: find the new in C)
            by_key = dict(zip(map(_identity, subs), subs, strict=True))
            for k in by_key.keys() - self.classes.keys():
                added |= self._add_tree(by_key[k])
        return added


def _live_classes() -> tuple[dict, set]:
    """(every live class by key, the keys of those made since the last call)."""
    tree = _watched.get("tree")
    if tree is not None:
        return tree.classes, tree.refresh()
    classes = _all_classes()
    last, _watched["last_classes"] = _watched.get("last_classes") or {}, classes
    return classes, classes.keys() - last.keys()


def _cell_file(shell, number):
    """The file name IPython compiled cell `number` under (tracebacks, linecache)."""
    names = getattr(getattr(shell, "compile", None), "_filename_map", None) or {}
    return next((name for name, n in list(names.items()) if n == number), None)


def _notebook_function(f, test_file) -> bool:
    """Is the function `f` notebook-made: the notebook's own cells (not the test cell running,
    whose code is compiled as `test_file`) or a module not installed with Python?"""
    code, g = getattr(f, "__code__", None), getattr(f, "__globals__", None)
    if code is None or not isinstance(g, dict) or id(g) in _watched["trusted"]:
        return False
    if g is _watched["user_globals"]:
        return code.co_filename != test_file
    return not _installed_module_globals(g)


def _lying_methods(cls, test_file):
    """(name, function, wrap) for each notebook-made lying dunder in `cls`'s own namespace."""
    import types

    out = []
    d = _TYPE_DICT(cls)
    for name in LYING_DUNDERS.intersection(d):
        v = d[name]
        if isinstance(v, (staticmethod, classmethod)):
            f, rewrap = v.__func__, type(v)
        else:
            f, rewrap = v, None
        if isinstance(f, types.FunctionType) and _notebook_function(f, test_file):
            out.append((name, v, f, rewrap))
    return out


def _wrap_class(cls, test_file) -> int:
    """Swap `cls`'s notebook-made lying dunders for recording wrappers until the test ends; how many."""
    import functools

    methods = _lying_methods(cls, test_file)
    for name, original, f, rewrap in methods:
        where = f"{name} (defined at {f.__code__.co_filename}:{f.__code__.co_firstlineno})"

        def called(*args, __f=f, __where=where, **kwargs):
            if _watched["in_test"] and _get_ident() == _watched["main_thread"]:
                _watched["dunders"].add(__where)
            return __f(*args, **kwargs)

        wrapper = functools.update_wrapper(called, f)
        wrapper = rewrap(wrapper) if rewrap else wrapper
        type.__setattr__(cls, name, wrapper)
        _watched["wrapped"].append((cls, name, original, wrapper))
    return len(methods)


def _build_class(func, name, *bases, **kwargs):
    """``builtins.__build_class__`` while a test runs: a class the test's calls make is watched
    too (one the test cell itself defines is the test's own)."""
    cls = _watched["build_class"](func, name, *bases, **kwargs)
    if _watched["in_test"] and isinstance(cls, type):
        _watched["built"].add(_identity(cls))
        try:
            # (IPython counts a cell before running it: the running cell is number count - 1.)
            _wrap_class(cls, _cell_file(_STATE.shell, _STATE.shell.execution_count - 1))
        except Exception as e:  # never break the class statement; the test's verdict says why
            _watched["dunder_errors"].append(f"{type(e).__name__}: {e}")
    return cls


class _CleanClasses:
    """Classes found with nothing to wrap, and their namespaces' versions then: `_start_watch`
    looks again only at those written since, which one read of `_Words` finds among thousands."""

    def __init__(self) -> None:
        self.keys: set = set()
        self._order: list = []  # the keys, in the order of the words
        self._classes: list = []  # (kept alive: a key stays its class's own)
        self._versions = _Words()
        self._index: dict = {}

    def add(self, key, cls) -> None:
        i = self._index.get(key)
        if i is not None:  # written since, and clean again
            self._versions.see(i)
            return
        self._index[key] = len(self._order)
        self.keys.add(key)
        self._order.append(key)
        self._classes.append(cls)
        self._versions.add(id(_class_namespace(cls)) + _VERSION_OFFSET)

    def changed(self) -> set:
        versions = self._versions.read()
        return {self._order[i] for i in self._versions.changed(versions)}


def _first_look(classes: dict, trusted: set) -> tuple:
    """(clean, static, unsettled) of the untrusted `classes`, looked at once in the fork server.

    Every library class that is not a module attribute (nested, private, made by a factory:
    ~4,000 once TensorFlow is loaded) has no notebook-made methods yet; looking at them here,
    before any kernel is forked, spares every kernel that first look (~25 ms, and the pages it
    copies). Nothing is wrapped here: a class with something to wrap stays unsettled, and a
    kernel looks at it again, as at a class whose namespace it wrote since."""
    clean, static, unsettled = _CleanClasses(), set(), set()
    for k in classes.keys() - trusted:
        c = classes[k]
        if _TYPE_FLAGS(c) & _IMMUTABLE:
            static.add(k)
        elif _lying_methods(c, None):
            unsettled.add(k)
        else:
            clean.add(k, c)
    return clean, static, unsettled


def _start_watch(state) -> None:
    """Before a test cell: wrap the lying dunders of every notebook-made class that exists now."""
    import builtins

    _watched["wrapped"], _watched["dunder_errors"], _watched["built"] = [], [], set()
    classes, made = _live_classes()
    clean, static, unsettled = _watched["clean"], _watched["static"], _watched["unsettled"]
    if unsettled is None:  # a kernel's first look, without the fork server's: every class
        todo = classes.keys() - _watched["trusted_keys"] - clean.keys - static
    else:  # only the classes made or written since the last look, and those that were not clean
        todo = {k for k in unsettled | made if k not in _watched["trusted_keys"]}
    todo.update(k for k in clean.changed() if k in classes)
    _watched["unsettled"] = unsettled = set()
    for k in todo:
        c = classes.get(k)
        if c is None:  # (gone: only `_all_classes` lists classes that can die)
            continue
        if _TYPE_FLAGS(c) & _IMMUTABLE:
            static.add(k)
        elif not _wrap_class(c, None) and _watched["versions_ok"]:
            clean.add(k, c)
        else:
            unsettled.add(k)
    _watched["build_class"] = builtins.__build_class__
    builtins.__build_class__ = _build_class


def _end_watch(state) -> list[str]:
    """After a test cell: put every wrapped method back; what the test's own calls did to them."""
    import builtins

    reasons = []
    if builtins.__build_class__ is _build_class:
        builtins.__build_class__ = _watched["build_class"]
    for cls, name, original, wrapper in reversed(_watched["wrapped"]):
        if _TYPE_DICT(cls).get(name, _MISSING) is wrapper:
            type.__setattr__(cls, name, original)
        else:
            reasons.append(f"{_TYPE_NAME(cls)}.{name}, defined in the notebook, was replaced")
    _watched["wrapped"] = []
    # A class made during the test without a class statement (``type(name, bases, ns)``): its
    # lying dunders could not be watched.
    test_file = _cell_file(state.shell, getattr(state.shell, "execution_count", 1) - 1)
    classes, made = _live_classes()  # (made since `_start_watch` looked)
    if _watched["unsettled"] is not None:
        _watched["unsettled"] |= made  # the next `_start_watch` looks at them
    for k in made - _watched["built"] - _watched["trusted_keys"]:
        c = classes[k]
        if not _TYPE_FLAGS(c) & _IMMUTABLE:
            for name, _, _, _ in _lying_methods(c, test_file):
                reasons.append(f"class {_TYPE_NAME(c)} with {name} was made by type(), unwatched")
    reasons += [f"watching a class failed: {e}" for e in _watched["dunder_errors"]]
    return reasons


def _helper_namespace(name: str) -> bool:
    return name in HELPER_MODULES or (
        name.startswith(HELPER_PREFIXES) and not name.startswith(NOT_HELPER_PREFIXES)
    )


def _dict_version(d: dict) -> int:
    """CPython's private version tag of a dict (PEP 509; ``ma_version_tag``, 3.6-3.12): it changes
    on every insertion, deletion or replacement by another object, and on nothing else."""
    return _dict_version_view(d).value


def _class_namespace(cls) -> dict:
    """A class's namespace itself: its ``__dict__`` is a read-only proxy of it."""
    import gc

    return next(r for r in gc.get_referents(_TYPE_DICT(cls)) if isinstance(r, dict))


def _class_version_view(cls):
    """`_dict_version_view` of a class's namespace."""
    return _dict_version_view(_class_namespace(cls))


def _dict_version_view(d: dict):
    """A ctypes integer that reads `d`'s version tag whenever its ``.value`` is read (`d` must
    outlive it)."""
    return _uint64_view(id(d) + _VERSION_OFFSET)


def _dict_versions_work() -> bool:
    """Does `_dict_version` read what it should on this interpreter?"""
    import sys

    if sys.implementation.name != "cpython" or not (3, 6) <= sys.version_info[:2] <= (3, 12):
        return False
    probe = {"a": 1}
    v0 = _dict_version(probe)
    probe["a"] = probe["a"]  # the same object: no change
    v1 = _dict_version(probe)
    probe["a"] = 2
    return v1 == v0 and _dict_version(probe) != v0


def _lie_is_the_notebooks(tp) -> bool:
    """`tp`'s instances claim another class: is the claim made by notebook code?

    The claim comes from the first class of the MRO that defines ``__class__`` or
    ``__getattribute__``. Trusted if that class was recorded at kernel start (a library's proxy,
    e.g. unittest.mock's) or is a static/C type (wrapt's ObjectProxy); notebook classes are neither.
    """
    for c in tp.__mro__:
        if c is object:
            break
        if "__class__" in vars(c) or "__getattribute__" in vars(c):
            return not (id(c) in _watched["trusted_classes"] or c.__flags__ & (1 << 8))
    return False


def _strict_isinstance(obj, cls, /):
    """`isinstance` for test cells: an object defined by the notebook cannot claim a class it does
    not have (a ``__class__`` property returning ``tf.Variable``). Such a claim answers False and
    is reported; trusted proxies (wrapt's, weakref's) keep their answer."""
    answer = _isinstance(obj, cls)
    if answer and not _issubclass(type(obj), cls) and _lie_is_the_notebooks(type(obj)):
        name = getattr(cls, "__name__", repr(cls))
        _watched["liars"].add(
            f"an object of {type(obj).__qualname__} (defined in the notebook) claimed to be a {name}"
        )
        return False
    return answer


_isinstance, _issubclass = isinstance, issubclass
_get_ident = __import__("_thread").get_ident


def _enter_test(ns, state) -> None:
    """While a test cell runs, its globals hold pristine builtins and the strict isinstance: a
    notebook that patches ``builtins`` from inside the test (and puts it back) cannot reach the
    test's own lookups, which find these first."""
    saved = {}
    for name, value in {**state.builtin_values, "isinstance": _strict_isinstance}.items():
        saved[name] = ns.get(name, _MISSING)
        ns[name] = value
    _watched["ns_saved"] = saved
    _watched["ns_installed"] = {name: ns[name] for name in saved}
    _watched["versions"] = (
        [(n, d, _dict_version(d)) for n, d in state.helper_dicts] if _watched["versions_ok"] else []
    )
    _watched["type_writes"] = set()
    _watched["liars"] = set()
    _watched["in_test"] = True


def _leave_test(ns) -> list[str]:
    """Undo `_enter_test`; the helper namespaces written while the test ran."""
    _watched["in_test"] = False
    for name, value in _watched.pop("ns_saved", {}).items():
        if ns.get(name, _MISSING) is _watched["ns_installed"].get(name):  # the test did not rebind it
            if value is _MISSING:
                ns.pop(name, None)
            else:
                ns[name] = value
    return [n for n, d, v in _watched.get("versions", []) if _dict_version(d) != v]


def _forget_test_source(state) -> None:
    """Drop the test cell's source (hidden tests included) from the kernel's memory once it ran:
    IPython keeps every cell in ``In``/``_ih``, ``_i``/``_ii``/``_iii``/``_iN`` and linecache."""
    import linecache

    sh = state.shell
    hm = getattr(sh, "history_manager", None)
    n = getattr(sh, "execution_count", 1) - 1  # the test cell ran with store_history=True
    texts = set()
    for lst in (getattr(hm, "input_hist_parsed", None), getattr(hm, "input_hist_raw", None)):
        if lst is not None and 0 < n < len(lst):
            texts.add(lst[n])
            lst[n] = ""
    for attr in ("_i00", "_i", "_ii", "_iii"):  # the history manager's own copies
        if getattr(hm, attr, None) in texts:
            setattr(hm, attr, "")
    cache = getattr(hm, "db_input_cache", None)
    if cache:
        cache[:] = [(i, "", "") if i == n else (i, *rest) for i, *rest in cache]
    ns = state.user_ns
    for key in ("_i", "_ii", "_iii", f"_i{n}"):
        if ns.get(key) in texts:
            ns[key] = ""
    test_file = _cell_file(sh, n)
    if test_file:
        linecache.cache.pop(test_file, None)


def _record_result(result) -> None:
    err = result.error_in_exec or result.error_before_exec
    _watched["error"] = f"{type(err).__name__}: {err}"[:500] if err is not None else None


def install(nonce: str, preload=()) -> str:
    """Record the pristine state (once, at kernel start, before any student code)."""
    global _STATE
    import importlib
    import os
    import sys

    for k in [k for k in os.environ if k.startswith("NBGRADER")]:
        del os.environ[k]
    errors = []
    for name in ALWAYS_IMPORT:  # lazily loaded helpers tests call: record them before students run
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as e:
            errors.append(f"{name}: {type(e).__name__}")
    from IPython import get_ipython

    t0 = time.perf_counter()
    shell = get_ipython()
    first = _STATE is None
    if first:
        # Records each (non-silent) cell's exception before any later callback could edit it.
        shell.events.register("post_run_cell", _record_result)
    _STATE = _Pristine(shell)
    if first:  # (after recording: with an audit hook, each of its ~20,000 id() calls runs the hook)
        sys.addaudithook(_audit)
    _watched["user_globals"] = shell.user_global_ns
    _watched["trusted"] = set(_STATE.module_globals)
    _watched["trusted_classes"] = _STATE.trusted_classes
    _watched["trusted_keys"] = {_identity(e[0]) for e in _STATE.cls_snap}
    _watched["versions_ok"] = _dict_versions_work()
    # The fork server's first look holds for the kernel it forked, once (a second install in one
    # process would find classes it looked at since missing from the server's unsettled set).
    looked = getattr(_PREPARED, "looked", None) if first else None
    if looked is not None and _watched["versions_ok"]:
        _watched["clean"], _watched["static"], _watched["unsettled"] = looked
    else:
        _watched["clean"], _watched["static"], _watched["unsettled"] = _CleanClasses(), set(), None
    _watched["tree"] = getattr(_PREPARED, "tree", None) or (_ClassTree() if _subclass_slots_work() else None)
    _watched["main_thread"] = _get_ident()
    return json.dumps(
        {
            "nonce": nonce,
            "modules": len(_STATE.mod_snap),
            "classes": len(_STATE.cls_snap),
            "preload_errors": errors,
            "seconds": round(time.perf_counter() - t0, 4),
            "prepared": _PREPARED is not None,
            "inherited": _STATE.inherited,
            "transient_patches_seen": _watched["versions_ok"],
        }
    )


def before(nonce: str) -> str:
    """Before a test cell: restore pristine state, then watch the cell."""
    if _STATE is None:
        return json.dumps({"nonce": nonce, "reasons": ["the guard was not installed at kernel start"]})
    t0 = time.perf_counter()
    if _watched["in_test"]:  # the last test's after-call never came (its kernel was interrupted)
        _end_watch(_STATE)
        _leave_test(_STATE.user_ns)
    reasons = _STATE.check(restore=True)
    _watched["dunders"] = set()
    _watched["error"] = None
    _STATE.lazy_accepted = set()
    _enter_test(_STATE.user_ns, _STATE)
    try:
        _start_watch(_STATE)
    except Exception as e:
        reasons.append(f"the guard could not watch the notebook's classes: {type(e).__name__}: {e}")
    _watched["seconds"] = time.perf_counter() - t0
    return json.dumps({"nonce": nonce, "reasons": reasons, "seconds": round(_watched["seconds"], 4)})


def after(nonce: str) -> str:
    """After a test cell: what it changed, what it raised; forget its source."""
    if _STATE is None:
        return json.dumps({"nonce": nonce, "reasons": ["the guard was not installed at kernel start"]})
    t0 = time.perf_counter()
    try:
        reasons = [f"during the test: {r}" for r in _end_watch(_STATE)]
    except Exception as e:
        reasons = [f"the guard could not finish watching the notebook's classes: {type(e).__name__}: {e}"]
    written = _leave_test(_STATE.user_ns)
    found = _STATE.check(restore=True)
    reasons += [f"during the test: {r}" for r in found]
    for name in written:
        if name not in _STATE.lazy_accepted and not any(r.startswith(f"{name}.") for r in found):
            reasons.append(f"during the test: {name} was changed and put back before the test ended")
    reasons += [f"during the test: {w} was set and put back" for w in sorted(_watched["type_writes"])
                if not any(r.startswith(w) for r in found)]  # fmt: skip
    reasons += [f"during the test: {lie}" for lie in sorted(_watched["liars"])]
    _forget_test_source(_STATE)
    seconds = time.perf_counter() - t0
    reasons += [f"the test called {d}, defined in the notebook" for d in sorted(_watched["dunders"])]
    return json.dumps(
        {
            "nonce": nonce,
            "reasons": reasons,
            "error": _watched.get("error"),
            "seconds": round(seconds, 4),
            "execution_count": getattr(_STATE.shell, "execution_count", None),
        }
    )
