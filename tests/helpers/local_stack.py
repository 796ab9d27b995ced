"""Whole executions on this machine: the local stack wired to one test database and sources, what a sync of the
sample source should store, and the schema every Tenders Changed event must meet."""

import json
from datetime import date
from typing import Any

import psycopg

from local.engine.stack import Execution, LocalStack
from local.sample_source.server import SampleSource
from local.schemas import SCHEMAS_DIR
from tender_sync.workflows import SYNC

# The schema in the repository every published Tenders Changed event is checked against.
EVENT_SCHEMA = json.loads((SCHEMAS_DIR / "tenders-changed.json").read_text())


class Sync:
    """The local stack wired to one test database, with helpers to run syncs and read the tables."""

    def __init__(self, local: LocalStack, template: dict[str, Any], database_url: str):
        self.local, self.database_url = local, database_url
        self.state_machine = SYNC.state_machine_id(template)

    def run(self, **execution_input: Any) -> Execution:
        return self.local.execute(self.state_machine, {"triggeredBy": "test", **execution_input})

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url) as conn:
            cursor = conn.execute(sql, params)
            assert cursor.description is not None, f"{sql!r} returns no rows"
            columns = [column.name for column in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def local_sync(template: dict[str, Any], database_url: str, ocds_url: str, portal_url: str) -> LocalStack:
    """The local stack of `template` on `database_url`, reading the given OCDS API and portal."""
    environment = {"DATABASE_URL": database_url, "OCDS_BASE_URL": ocds_url, "PORTAL_BASE_URL": portal_url}
    return LocalStack(template, environment)


def expected_tenders(source: SampleSource, *windows: tuple[date, date]) -> dict[str, dict[str, Any]]:
    """ocid -> the newest release of it dated inside any of the windows."""
    newest: dict[str, dict[str, Any]] = {}
    for release in source.releases:
        day = date.fromisoformat(release["date"][:10])
        in_a_window = any(start <= day < end for start, end in windows)
        if in_a_window and (release["ocid"] not in newest or release["date"] > newest[release["ocid"]]["date"]):
            newest[release["ocid"]] = release
    return newest
