"""The schema's migrations: the numbered SQL files beside this module, applied in order, each once, as the schema's
owner (`make migrate`, and at deploy the migration trigger). The functions connect as a user that may only read and
write, and each workflow's first step checks that the schema is current before it writes anything."""

from importlib import resources
from importlib.resources.abc import Traversable

import psycopg

from tender_sync.errors import SchemaBehind

# Serializes migrators: two deploys, or a deploy and `make migrate`, at once.
MIGRATE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('tender_sync.migrate'))"
APPLIED_SQL = "SELECT version FROM schema_migrations"


def migration_files() -> list[Traversable]:
    return sorted((f for f in resources.files(__name__).iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)


def versions() -> list[str]:
    """Every migration this code knows, in order."""
    return [file.name.removesuffix(".sql") for file in migration_files()]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the SQL files in order, each once, recorded in schema_migrations. Returns those applied now."""
    conn.execute(MIGRATE_LOCK)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = {version for (version,) in conn.execute(APPLIED_SQL)}
    newly_applied = []
    for file in migration_files():
        version = file.name.removesuffix(".sql")
        if version in applied:
            continue
        conn.execute(file.read_text())
        conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
        newly_applied.append(version)
    return newly_applied


def require_current(conn: psycopg.Connection) -> None:
    """SchemaBehind, naming the first migration not applied, unless every one this code knows is."""
    (exists,) = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone() or (False,)
    applied = {version for (version,) in conn.execute(APPLIED_SQL)} if exists else set()
    missing = [version for version in versions() if version not in applied]
    if missing:
        raise SchemaBehind(
            f"the database schema is behind: migration {missing[0]} is not applied"
            f"{f' (nor {len(missing) - 1} after it)' if len(missing) > 1 else ''}; run `make migrate`"
            " (or deploy) as the schema's owner"
        )
