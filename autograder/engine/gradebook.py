"""One SQLAlchemy engine per database URL in this process, for every nbgrader `Gradebook`.

nbgrader opens a new `Gradebook`, and with it a new SQLAlchemy engine, for each step of each
notebook it grades (about 11 per notebook). A new engine starts with an empty cache of compiled
statements, so every query was compiled again: ~8 ms per `Gradebook`, ~0.1 s per notebook.
`share_engines` makes nbgrader's ``create_engine`` hand back the engine already made for the same
URL and options. `Gradebook.close()` still disposes of that engine's connection pool, so no
connection outlives its `Gradebook` (and a forked process inherits none); only the statement
cache is kept.
"""

from __future__ import annotations

import threading

from nbgrader import api

__all__ = ["share_engines"]

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
            engine = _engines[key] = _create_engine(url, **kwargs)
    return engine


def share_engines() -> None:
    """From now on every `Gradebook` in this process shares its URL's engine (idempotent)."""
    api.create_engine = _shared_create_engine
