"""One lock per Optuna study, held where all of the study's workers can see it.

The budget of a study is kept by reservations (:mod:`lightning_carbon.optuna_carbon`): a worker
reads what is spent and reserved, then writes its trial's reservation. Two workers must never
both read before either writes, so that step runs under this lock, chosen by the storage:

- PostgreSQL: a transaction-level advisory lock (``pg_advisory_xact_lock``) on a connection of
  the storage's own engine, keyed by the study's id. The server releases it when the
  transaction ends or the worker's connection drops, so a dead worker never holds it.
- SQLite file: a write transaction (``BEGIN IMMEDIATE``) on a lock file beside the database,
  ``<database>.carbon-lock``. Not the database itself: Optuna writes the reservation through
  its own connection, which a write transaction on the database would block. The operating
  system releases the lock with a dead worker's file handles.
- Journal file (``JournalFileBackend``): the same, beside the journal file.
- In-memory storage (one process, maybe several threads): a ``threading.Lock``.

Other storages (MySQL, Redis journals, gRPC proxies) raise ``ValueError``.

Example::

    with study_lock(study._storage, study._study_id):
        trials = ...  # read, decide, write: no other worker of this study is in here
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage

LOCK_SUFFIX = ".carbon-lock"
"""The file beside a SQLite database or journal that holds the lock of its studies."""
_ADVISORY_CLASS = 0x4C434200
"""The first key of our PostgreSQL advisory locks (the second is the study id)."""
_WAIT_S = 600.0
"""How long a SQLite lock is waited for before ``sqlite3.OperationalError``."""

_THREAD_LOCKS: weakref.WeakKeyDictionary[BaseStorage, threading.Lock] = weakref.WeakKeyDictionary()
_THREAD_LOCKS_GUARD = threading.Lock()


def backend_of(storage: BaseStorage) -> BaseStorage:
    """The storage behind Optuna's read cache (which ``optuna.load_study`` puts in front of an
    ``RDBStorage``): reads from it are never stale."""
    return getattr(storage, "_backend", storage) if _is_cache(storage) else storage


@contextmanager
def study_lock(storage: BaseStorage, study_id: int) -> Iterator[None]:
    """Hold the lock of study ``study_id`` in ``storage`` for the body of the ``with``.

    Example::

        with study_lock(study._storage, study._study_id):
            ...
    """
    backend = backend_of(storage)
    if isinstance(backend, RDBStorage):
        dialect = backend.engine.dialect.name
        database = backend.engine.url.database
        if dialect == "postgresql":
            with _advisory_lock(backend.engine, study_id):
                yield
            return
        if dialect == "sqlite":
            if database in (None, "", ":memory:"):
                with _thread_lock(backend):
                    yield
            else:
                with _file_lock(database + LOCK_SUFFIX):
                    yield
            return
        raise ValueError(
            f"no study lock for the {dialect!r} database of {backend.url!r}; "
            "use PostgreSQL or SQLite"
        )
    if isinstance(backend, JournalStorage):
        path = getattr(getattr(backend, "_backend", None), "_file_path", None)
        if path is None:
            raise ValueError(
                f"no study lock for a journal on {type(backend._backend).__name__}; "
                "use a JournalFileBackend, PostgreSQL or SQLite"
            )
        with _file_lock(path + LOCK_SUFFIX):
            yield
        return
    if isinstance(backend, InMemoryStorage):
        with _thread_lock(backend):
            yield
        return
    raise ValueError(
        f"no study lock for storage {type(backend).__name__}; use PostgreSQL, SQLite, "
        "a journal file or the in-memory storage"
    )


def _is_cache(storage: BaseStorage) -> bool:
    return type(storage).__name__ == "_CachedStorage"


@contextmanager
def _advisory_lock(engine: sqlalchemy.Engine, study_id: int) -> Iterator[None]:
    with engine.connect() as connection, connection.begin():
        connection.execute(
            sqlalchemy.text("SELECT pg_advisory_xact_lock(:kind, :study)"),
            {"kind": _ADVISORY_CLASS, "study": study_id},
        )
        yield


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    connection = sqlite3.connect(path, timeout=_WAIT_S, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
    finally:
        connection.close()


def _thread_lock(storage: BaseStorage) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(storage, threading.Lock())
