"""Which failures are a service being down (503, counted by the breaker) and which are not.

The driver's errors are built the way SQLAlchemy's asyncpg dialect wraps
them (the driver's error, translated, inside a `DBAPIError`), so each case is
the exception a request would see.
"""

from __future__ import annotations

import errno

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

from minifb.adapters.resilience import Unavailable
from minifb.kit.outages import is_database_outage, is_outage, is_unsent

_dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)


def wrapped(error: Exception, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    """`error` as SQLAlchemy raises it from a statement on asyncpg."""
    translated = _dbapi._asyncpg_error_translate
    cls = next(translated[c] for c in type(error).__mro__ if c in translated)
    dbapi_error = cls(str(error), error)
    dbapi_error.__cause__ = error
    return sa_exc.DBAPIError.instance(
        "SELECT 1", {}, dbapi_error, _dbapi.Error, connection_invalidated=invalidated
    )


def outage_cases() -> list[Exception]:
    return [
        Unavailable("database"),
        sa_exc.TimeoutError("QueuePool limit of size 20 overflow 0 reached"),
        wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")),
        wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
        wrapped(asyncpg.exceptions.CrashShutdownError("crash")),
        wrapped(asyncpg.exceptions.TooManyConnectionsError("too many clients")),
        wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
        wrapped(asyncpg.exceptions.InterfaceError("connection is closed")),
        wrapped(asyncpg.exceptions.InternalClientError("anything"), invalidated=True),
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
        ConnectionResetError(errno.ECONNRESET, "reset by peer"),
        TimeoutError(),
        OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 5432, 0, 0)"),
        OSError(errno.EHOSTUNREACH, "No route to host"),
    ]


def answered_cases() -> list[Exception]:
    """The database answered: the request failed, the database did not."""
    return [
        wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key value")),
        wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
        wrapped(asyncpg.exceptions.SerializationError("could not serialize access")),
        wrapped(asyncpg.exceptions.LockNotAvailableError("could not obtain lock")),
        wrapped(asyncpg.exceptions.QueryCanceledError("canceling statement due to timeout")),
        wrapped(asyncpg.exceptions.UndefinedTableError('relation "nope" does not exist')),
        wrapped(asyncpg.exceptions.InterfaceError("cannot perform operation: another op")),
        sa_exc.OperationalError("INSERT", {}, Exception("database is locked")),  # SQLite
        Unavailable("cache"),
        FileNotFoundError(errno.ENOENT, "No such file"),
        RuntimeError("bug"),
    ]


@pytest.mark.parametrize("error", outage_cases(), ids=lambda e: type(e).__name__)
def test_a_database_that_is_gone_is_an_outage(error: Exception) -> None:
    assert is_database_outage(error)
    assert is_outage(error)


@pytest.mark.parametrize("error", answered_cases(), ids=lambda e: repr(e)[:40])
def test_an_error_the_database_answered_is_not_one(error: Exception) -> None:
    assert not is_database_outage(error)


def test_another_service_being_unavailable_is_an_outage_but_not_the_databases() -> None:
    assert is_outage(Unavailable("cache"))
    assert not is_database_outage(Unavailable("cache"))


class TestUnsent:
    def test_a_statement_refused_before_it_was_sent_may_go_again(self) -> None:
        # A shutdown notice that arrived while the connection was idle.
        refused = asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )
        assert is_unsent(refused)
        assert is_unsent(asyncpg.exceptions.InterfaceError("connection is closed"))

    def test_a_statement_lost_in_flight_or_a_misuse_may_not(self) -> None:
        assert not is_unsent(
            asyncpg.exceptions.ConnectionDoesNotExistError(
                "connection was closed in the middle of operation"
            )
        )
        assert not is_unsent(
            asyncpg.exceptions.InternalClientError(
                "cannot switch to state 12; another operation (11) is in progress"
            )
        )
