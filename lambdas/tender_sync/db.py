"""Database connections and schema migrations."""
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import psycopg
from aws_lambda_powertools.utilities.parameters import get_secret
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tender_sync.errors import DatabaseUnavailable

MIGRATIONS_PACKAGE = "tender_sync.migrations"


def database_url() -> str:
    """DATABASE_URL when set (local runs), else the secret named by DATABASE_SECRET_ARN (cached)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    secret_arn = os.environ.get("DATABASE_SECRET_ARN")
    if not secret_arn:
        raise RuntimeError("neither DATABASE_URL nor DATABASE_SECRET_ARN is set")
    return get_secret(secret_arn, max_age=300)


def connection_string(url: str) -> str:
    """The libpq connection string for a database URL.

    TLS is required unless the URL names its own sslmode (libpq never uses TLS on a Unix socket, so the
    local socket URL works as it is; a server without TLS must say sslmode=disable). With an RDS Proxy
    (DATABASE_PROXY_ENDPOINT) the proxy replaces the URL's host. The URL holds the password: no error
    raised here repeats it."""
    try:
        options = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ValueError("the database URL is not a valid PostgreSQL URL") from None
    overrides = {}
    if "sslmode" not in options:
        overrides["sslmode"] = "require"
    proxy = os.environ.get("DATABASE_PROXY_ENDPOINT")
    if proxy:
        overrides["host"] = proxy
    return make_conninfo(url, **overrides)


@contextmanager
def connect() -> Iterator[psycopg.Connection]:
    """One connection for one step; closed when the step is done. Connection failures are transient."""
    try:
        conn = psycopg.connect(connection_string(database_url()), connect_timeout=10, application_name="tender-sync")
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"cannot connect to the database: {error}") from None
    try:
        with conn:
            yield conn
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"database connection failed: {error}") from None
    finally:
        conn.close()


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the SQL files in order, each once, recorded in schema_migrations. Returns those applied now."""
    # Serialize concurrent migrators (two executions starting at once).
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('tender_sync.migrate'))")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    files = sorted(
        (f for f in resources.files(MIGRATIONS_PACKAGE).iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    newly_applied = []
    for file in files:
        version = file.name.removesuffix(".sql")
        if version in applied:
            continue
        conn.execute(file.read_text())
        conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
        newly_applied.append(version)
    return newly_applied
