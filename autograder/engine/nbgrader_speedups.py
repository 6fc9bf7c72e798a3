"""Work nbgrader repeats for every notebook, done once per process: same results, less time.

nbgrader opens a new `Gradebook` for each step of each notebook it grades (11 per notebook), and
each one made a new database engine, a new connection, and checked every table's existence
(14 statements) before its first query: about 3 of every 4 statements a notebook cost (165 of
228), each a round trip on PostgreSQL. `install()` applies the remedies below (idempotent); a
`Grader` calls it, and opens `one_submission` around each submission it grades.

* **One SQLAlchemy engine per database URL** (`share_engines`). A new engine starts with an
  empty cache of compiled statements, so every query was compiled again: ~8 ms per `Gradebook`,
  ~0.1 s per notebook. nbgrader's ``create_engine`` now hands back the engine already made for
  the same URL and options.
  On sqlite, `Gradebook.close()` still disposes of that engine's connection pool, so no
  connection outlives its `Gradebook` (a connection kept open would go on writing to a gradebook
  file deleted and made again at the same path). A database server's connections stay in the
  pool (a new one costs ~2 ms on PostgreSQL), checked by SQLAlchemy's ``pool_pre_ping`` before each
  use, and a forked child drops its parent's without closing them (SQLAlchemy's own recipe).
* **Tables created only when missing** (`create_tables_once`). Each `Gradebook` lists the
  database's tables, then asks ``create_all`` to create the missing ones, which checks each of
  nbgrader's 13 tables again. When the listing just made for that engine already shows all of
  them, ``create_all`` has nothing to do and is skipped; otherwise it runs as before.
* **Tables and course checked once per submission** (`one_submission`). Inside it, the
  `Gradebook`s nbgrader opens while grading one submission (11 per notebook) reuse the first
  one's table listing and course check instead of repeating them (2 statements each, round trips
  on PostgreSQL). Outside it (and in a new submission) every `Gradebook` checks as before.
* **nbgrader's cell-metadata schema checked once** (`check_cell_schema_once`). Its
  `CheckCellMetadata` validates every nbgrader cell with ``jsonschema.validate``, which first
  checks the schema itself against the JSON Schema meta-schema: ~10 ms a notebook spent proving
  again that nbgrader's own schema file is a valid schema. The cells are still validated, each
  against the same schema, by the same validator class and with the same error (jsonschema's
  ``best_match``); only the schema's own check is done once per distinct schema.
"""

from __future__ import annotations

import json
import os
import threading
import types
from contextlib import contextmanager

import jsonschema
import sqlalchemy
from nbgrader import api
from nbgrader.nbgraderformat import common
from sqlalchemy.engine import Engine

__all__ = ["check_cell_schema_once", "create_tables_once", "install", "one_submission", "share_engines"]

_create_engine = api.create_engine
_engines: dict = {}
_lock = threading.Lock()


def _shared_create_engine(url, **kwargs):
    try:
        key = (str(url), tuple(sorted(kwargs.items())))
        hash(key)
    except TypeError:  # options that cannot be a key: a private engine, as nbgrader makes it
        return _create_engine(url, **kwargs)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            server = not str(url).startswith("sqlite")
            engine = _create_engine(url, **({"pool_pre_ping": True, **kwargs} if server else kwargs))
            if server:  # Gradebook.close() disposes of the pool: keep its connections instead
                engine.dispose = lambda close=True: None
            _engines[key] = engine
    return engine


def _forget_parent_connections() -> None:
    for engine in list(_engines.values()):
        Engine.dispose(engine, close=False)


def share_engines() -> None:
    """From now on every `Gradebook` in this process shares its URL's engine (idempotent)."""
    if api.create_engine is not _shared_create_engine:
        os.register_at_fork(after_in_child=_forget_parent_connections)
    api.create_engine = _shared_create_engine


_listed = threading.local()  # (engine, whether its last table listing showed all of nbgrader's)
_create_all = api.Base.metadata.create_all


_submission = threading.local()  # .checked: what this submission's Gradebooks already checked


@contextmanager
def one_submission():
    """The `Gradebook`s opened inside check the tables and the course once (per engine)."""
    _submission.checked = {}
    try:
        yield
    finally:
        _submission.checked = None


def _checked() -> dict | None:
    return getattr(_submission, "checked", None)


def _inspect(subject):
    inspector = sqlalchemy.inspect(subject)
    if isinstance(subject, Engine):
        list_tables = inspector.get_table_names

        def get_table_names(*args, **kwargs):
            checked = _checked() if not args and not kwargs else None
            names = checked.get((subject, "tables")) if checked is not None else None
            if names is None:
                names = list_tables(*args, **kwargs)
            complete = set(api.Base.metadata.tables) <= set(names)
            _listed.last = (subject, complete)
            if checked is not None and complete:
                checked[(subject, "tables")] = names
            return names

        inspector.get_table_names = get_table_names
    return inspector


def _create_missing_tables(bind=None, tables=None, checkfirst=True):
    last, _listed.last = getattr(_listed, "last", None), None
    if checkfirst and tables is None and last is not None and last[0] is bind and last[1]:
        return  # the listing nbgrader made a moment ago shows every table: nothing to create
    _create_all(bind=bind, tables=tables, checkfirst=checkfirst)


_check_course = api.Gradebook.check_course


def _check_course_once(self, course_id: str = "default_course", **kwargs):
    checked = _checked()
    key = (self.engine, "course", course_id)
    if checked is not None and not kwargs and key in checked:
        return checked[key]  # (only Gradebook.__init__ calls this, and ignores what it returns)
    course = _check_course(self, course_id, **kwargs)
    if checked is not None and not kwargs:
        checked[key] = course
    return course


def create_tables_once() -> None:
    """A `Gradebook` skips ``create_all`` when its own table listing found every table; inside
    `one_submission` it reuses the listing and course check made there (idempotent)."""
    api.inspect = _inspect
    api.Base.metadata.create_all = _create_missing_tables
    api.Gradebook.check_course = _check_course_once


_validators: dict[str, jsonschema.protocols.Validator] = {}


def _validate(instance, schema, cls=None, *args, **kwargs):
    """``jsonschema.validate``, checking each distinct schema against its meta-schema only once."""
    if cls is not None or args or kwargs:
        return jsonschema.validate(instance, schema, cls, *args, **kwargs)
    key = json.dumps(schema, sort_keys=True)
    validator = _validators.get(key)
    if validator is None:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = _validators[key] = cls(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def check_cell_schema_once() -> None:
    """nbgrader's cell-metadata validation checks its schema once per process (idempotent)."""
    common.jsonschema = types.SimpleNamespace(validate=_validate, ValidationError=jsonschema.ValidationError)


def install() -> None:
    share_engines()
    create_tables_once()
    check_cell_schema_once()
