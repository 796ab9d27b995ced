"""The upsert's defence in depth, against a real PostgreSQL: rows PostgreSQL refuses are quarantined, the rest
stored. The rows here skip normalization, as a value nobody foresaw would."""

import json
from decimal import Decimal

import psycopg
import pytest

from tender_sync.storage import tenders
from tender_sync.storage import tenders as upsert
from tender_sync.storage.tenders import store_tenders
from tests.helpers.database import query, tender

SOURCE = "etenders-za"
GOOD = [tender(f"ocds-9t57fa-{n}") for n in range(100, 150)]
NUL_IN_JSONB = {**tender("ocds-9t57fa-bad-1"), "raw": {"ocid": "ocds-9t57fa-bad-1", "title": "bad\u0000json"}}
NUMERIC_OVERFLOW = {**tender("ocds-9t57fa-bad-2"), "value_amount": Decimal("1e999999")}
NUL_IN_TEXT = {**tender("ocds-9t57fa-bad-3"), "description": "bad\x00text"}
CHECK_VIOLATION = {**tender("ocds-9t57fa-bad-4"), "enrichment_status": "bogus"}
# Spread among the good ones, across COPY chunks (COPY_CHUNK_ROWS is made small below).
BATCH = [*GOOD[:5], NUL_IN_JSONB, *GOOD[5:30], NUMERIC_OVERFLOW, NUL_IN_TEXT, *GOOD[30:], CHECK_VIOLATION]
REASONS = {
    "ocds-9t57fa-bad-1": "22P05: unsupported Unicode escape sequence",  # refused by COPY
    "ocds-9t57fa-bad-2": "22003: value overflows numeric format",  # refused by COPY
    # psycopg's own check, before anything is sent: no SQLSTATE.
    "ocds-9t57fa-bad-3": "PostgreSQL text fields cannot contain NUL (0x00) bytes",
    # refused by the upsert (incoming does not copy the table's CHECK constraints)
    "ocds-9t57fa-bad-4": '23514: new row for relation "tenders" violates check constraint "tenders_enrichment_status_check"',
}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(upsert, "COPY_CHUNK_ROWS", 16)


def store(url, tenders):
    with psycopg.connect(url) as conn:
        return store_tenders(conn, SOURCE, iter(tenders)).counts


def test_poisoned_rows_are_quarantined_with_one_line_and_the_rest_stored(database_url):
    counts = store(database_url, BATCH)

    assert {row["ocid"] for row in query(database_url, "SELECT ocid FROM tenders")} == {t["ocid"] for t in GOOD}
    assert counts == {
        "tenders": 50,
        "inserted": 50,
        "updated": 0,
        "unchanged": 0,
        "upserted": 50,
        "enriched": 0,
        "pending": 50,
        "quarantined": 4,
    }
    quarantined = {row["ocid"]: row for row in query(database_url, "SELECT * FROM quarantine")}
    assert {ocid: row["reason"] for ocid, row in quarantined.items()} == REASONS
    assert all(row["source"] == SOURCE and row["seen_count"] == 1 for row in quarantined.values())
    # The release jsonb refuses is kept as its JSON text; the others as they are.
    assert json.loads(quarantined["ocds-9t57fa-bad-1"]["payload"]) == NUL_IN_JSONB["raw"]
    for bad in (NUMERIC_OVERFLOW, NUL_IN_TEXT, CHECK_VIOLATION):
        assert quarantined[bad["ocid"]]["payload"] == bad["raw"]


def test_the_same_batch_again_changes_nothing_but_the_quarantine_counts(database_url):
    store(database_url, BATCH)
    stored = query(database_url, "SELECT * FROM tenders ORDER BY ocid")

    counts = store(database_url, BATCH)

    assert (counts["unchanged"], counts["upserted"], counts["quarantined"]) == (50, 0, 4)
    assert query(database_url, "SELECT * FROM tenders ORDER BY ocid") == stored
    quarantined = query(database_url, "SELECT ocid, reason, seen_count FROM quarantine")
    assert {row["ocid"]: row["reason"] for row in quarantined} == REASONS
    assert [row["seen_count"] for row in quarantined] == [2] * 4


def test_a_clean_batch_takes_one_pass(database_url, monkeypatch):
    copies = []
    copy = tenders._copy

    def counted_copy(conn, tenders, refused):
        copies.append(len(tenders))
        copy(conn, tenders, refused)

    monkeypatch.setattr(upsert, "_copy", counted_copy)
    monkeypatch.setattr(upsert, "_upsert_range", lambda *args: pytest.fail("the upsert was halved"))

    counts = store(database_url, GOOD)

    assert copies == [16, 16, 16, 2]  # one COPY per chunk, none halved
    assert (counts["inserted"], counts["quarantined"]) == (50, 0)
    assert query(database_url, "SELECT * FROM quarantine") == []


def test_more_refused_rows_than_a_few_fail_the_batch(database_url, monkeypatch):
    monkeypatch.setattr(upsert, "MAX_REFUSED_ROWS", 3)

    with pytest.raises(psycopg.IntegrityError):
        store(database_url, BATCH)

    assert query(database_url, "SELECT * FROM tenders") == query(database_url, "SELECT * FROM quarantine") == []
