"""Migrations as the owner, then the functions as a user that may only read and write: `make migrate` applies the
schema, the README's SQL creates the functions' user, and a whole sync runs to SUCCESS as that user."""

import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from local import migrate
from local.sample_source.server import SampleSource
from local.toolchain import ROOT
from tests.helpers.local_stack import Sync, local_sync

pytestmark = pytest.mark.slow

HEADING = "### The functions' database user"


def readme_sql() -> str:
    """The first SQL block under the README's heading for the functions' user: the SQL an operator runs."""
    after = ROOT.joinpath("README.md").read_text().split(HEADING, 1)[1]
    match = re.search(r"```sql\n(.*?)```", after, re.DOTALL)
    assert match, f"no SQL block under {HEADING!r}"
    return match.group(1)


@pytest.fixture
def app_url(empty_database_url: str) -> Iterator[str]:
    """The database migrated by its owner with `make migrate`, and the URL of a user created with the README's SQL."""
    owner = conninfo_to_dict(empty_database_url)
    role, password = f"tender_sync_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", empty_database_url)
        assert migrate.main([]) == 0
    sql = readme_sql().replace("tender_sync_app", role).replace("tenders", str(owner["dbname"]))
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(sql.replace("'change-me'", f"'{password}'"))
    try:
        yield make_conninfo(empty_database_url, user=role, password=password)
    finally:
        with psycopg.connect(empty_database_url, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
        with psycopg.connect(make_conninfo(empty_database_url, dbname="postgres"), autocommit=True) as conn:
            conn.execute(f'DROP ROLE "{role}"')


def test_the_functions_user_may_only_read_and_write_and_runs_a_sync_to_success(template, app_url):
    with psycopg.connect(app_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE not_allowed (id int)")
    with psycopg.connect(app_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE tenders ADD COLUMN not_allowed int")

    with SampleSource() as source, local_sync(template, app_url, source.url, source.url) as local:
        execution = Sync(local, template, app_url).run()
        assert execution.status == "SUCCEEDED", execution.cause
        [job] = Sync(local, template, app_url).query("SELECT status, upserted FROM job_log")
    assert job["status"] == "SUCCESS" and job["upserted"] > 0
