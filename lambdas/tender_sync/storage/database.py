"""Database connections: the URL from the environment or the secret, connected to with bounded timeouts, and
failures as one line that quotes no part of the URL."""

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tender_sync import aws
from tender_sync.errors import DatabaseError, DatabaseUnavailable, InvalidDatabaseUrl

MALFORMED_URL = "the database URL is malformed: percent-encode special characters such as @ in the password"
# libpq and the server quote the host, user and database names they could not use: parts of the URL.
QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def database_url() -> str:
    """DATABASE_URL when set (local runs), else the secret named by DATABASE_SECRET_ARN (cached)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    secret_arn = os.environ.get("DATABASE_SECRET_ARN")
    if not secret_arn:
        raise RuntimeError("neither DATABASE_URL nor DATABASE_SECRET_ARN is set")
    return aws.secret_string(secret_arn)


def one_row(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    """The row of a statement that always returns one (an aggregate, an upsert's RETURNING)."""
    row = cursor.fetchone()
    if row is None:
        raise DatabaseError("a statement that returns one row returned none")
    return tuple(row)


def is_database_url(value: str) -> bool:
    """Whether a secret holds a PostgreSQL URL yet: one the stack generated holds a random string until it is set."""
    return value.startswith(("postgresql://", "postgres://"))


# Why a scheduled run ends at its first step before the database is set.
NOT_CONFIGURED = (
    "the database is not configured: the secret DatabaseSecret holds no PostgreSQL URL yet (docs/operations.md)"
)


def is_configured() -> bool:
    """Whether the functions have a database URL yet (DATABASE_URL, or a URL in their secret)."""
    return bool(os.environ.get("DATABASE_URL")) or is_database_url(database_url())


def describe_database_error(error: psycopg.Error) -> str:
    """The error in one line: SQLSTATE and primary message. Never PostgreSQL's DETAIL or CONTEXT, which quote
    row data (a failing row, a COPY line). An error raised by psycopg itself has no SQLSTATE: its first line."""
    if error.sqlstate:
        return f"{error.sqlstate}: {error.diag.message_primary}"
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def connection_string(url: str) -> str:
    """The libpq connection string for a database URL.

    TLS is required unless the URL names its own sslmode (libpq never uses TLS on a Unix socket, so the
    local socket URL works as it is; a server without TLS must say sslmode=disable). With an RDS Proxy
    (DATABASE_PROXY_ENDPOINT) the proxy replaces the URL's host. The URL holds the password: no error
    raised here repeats it."""
    if _is_malformed(url):
        raise InvalidDatabaseUrl(MALFORMED_URL)
    try:
        options = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise InvalidDatabaseUrl(MALFORMED_URL) from None
    overrides = {}
    if "sslmode" not in options:
        overrides["sslmode"] = "require"
    proxy = os.environ.get("DATABASE_PROXY_ENDPOINT")
    if proxy:
        overrides["host"] = proxy
    return make_conninfo(url, **overrides)


def _is_malformed(url: str) -> bool:
    """Whether a URL's user and password hold an unescaped @ or /, which libpq would read as part of the host,
    port or database (and then quote in its errors). A key=value connection string is left to libpq."""
    _, separator, rest = url.partition("://")
    if not separator:
        return False
    userinfo, at, _ = rest.partition("?")[0].rpartition("@")
    return bool(at) and ("@" in userinfo or "/" in userinfo)


@contextmanager
def connect(url: str | None = None) -> Iterator[psycopg.Connection]:
    """One connection for one step (to `url`, else database_url()); closed when the step is done.

    A database error raised in the block leaves as one of ours, in describe_database_error's one line and
    without its chain: a connection failure as DatabaseUnavailable (transient: the state machine retries it),
    any other as DatabaseError (permanent)."""
    conninfo = connection_string(url or database_url())
    try:
        conn = psycopg.connect(conninfo, connect_timeout=10, application_name="tender-sync")
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"cannot connect to the database: {_connection_failure(error)}") from None
    try:
        with conn:
            yield conn
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"database connection failed: {describe_database_error(error)}") from None
    except psycopg.Error as error:
        raise DatabaseError(describe_database_error(error)) from None
    finally:
        conn.close()


def _connection_failure(error: psycopg.OperationalError) -> str:
    """Why a connection failed, without the names libpq or the server quote. libpq's own message starts with
    the host and port ("connection to server at ... failed: why"): only the reason after them is kept."""
    reason = describe_database_error(error)
    if not error.sqlstate:
        reason = reason.rpartition("failed: ")[2]
    return QUOTED.sub("…", reason)
