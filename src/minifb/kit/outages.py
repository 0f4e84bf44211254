"""Which failures mean "a service is down", as opposed to "this request went wrong".

The difference decides two things (DESIGN §8): the answer (503 with
`Retry-After`, the client may simply try again, instead of a logged 500) and
the database's circuit breaker (only an outage counts toward opening it). A
constraint violation, a deadlock, a serialization failure or a cancelled
statement is the database answering, so none of them is an outage.
"""

from __future__ import annotations

import errno
import socket

from sqlalchemy import exc as sa_exc

from minifb.adapters.resilience import Unavailable

DATABASE = "database"


class NotKnownYet(Unavailable):
    """A state this process must hold before it serves (its worker id, the ended
    logins) that it does not hold now. Readiness answers "down" for it without a
    log line: whatever keeps the state logs its own failures, once each."""


# SQLSTATEs of a server that cannot take the statement: class 08 (connection
# exception: ConnectionDoesNotExistError and the like) and these.
_DOWN_SQLSTATES = frozenset(
    {
        "53300",  # too_many_connections
        "57P01",  # admin_shutdown: "terminating connection due to administrator command"
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: starting up, shutting down, in recovery
        "57P05",  # idle_session_timeout
    }
)

# A socket error means the peer is gone or unreachable; other OSErrors (a
# missing file, a full disk) are not an outage of another service.
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
    }
)


def is_database_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached or has gone away.

    Looks through SQLAlchemy's wrapper (`.orig`) and the driver's translation
    (`__cause__`) to the driver's own error.
    """
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, Unavailable):
            return seen.service == DATABASE
        if isinstance(seen, sa_exc.TimeoutError):
            return True  # no pooled connection came free in time
        if isinstance(seen, sa_exc.DBAPIError):
            if seen.connection_invalidated:
                return True
            seen = seen.orig
            continue
        if _is_network_failure(seen):
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate.startswith("08") or sqlstate in _DOWN_SQLSTATES
        if is_unsent(seen):
            return True
        seen = seen.__cause__
    return False


def is_unsent(exc: BaseException) -> bool:
    """Whether asyncpg refused to send a statement on a connection the server has dropped.

    Two cases, both raised before anything is written, so the statement may
    safely go again on another connection: the connection is known to be
    closed, or the server's notice that it is ending the connection (a restart)
    arrived while it was idle and the connection is still waiting for a "ready"
    that will never come (asyncpg 0.32 then refuses any new operation while
    "another operation (2)", its error-consuming state, "is in progress").
    """
    name, message = type(exc).__name__, str(exc)
    if name == "InterfaceError":
        return "connection is closed" in message
    if name == "InternalClientError":
        return message.startswith("cannot switch to state") and "operation (2)" in message
    return False


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means some service is unavailable now (503), not that the request failed."""
    return isinstance(exc, Unavailable) or is_database_outage(exc)


def _is_network_failure(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if type(exc) is OSError:
        if exc.errno in _NETWORK_ERRNOS:
            return True
        # asyncio's create_connection, when every address of a host failed differently.
        return exc.errno is None and str(exc).startswith("Multiple exceptions: ")
    return False
