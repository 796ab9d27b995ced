"""Nothing from the source blocks a window: a sync whose window holds releases with values PostgreSQL refuses
as they are, among 300 good ones, stores every good tender, stores each poisoned one cleaned or quarantines it,
and moves the cursor."""

from datetime import date

import pytest

from local.sample_source.faults import Faults
from local.sample_source.server import SampleSource
from tests.helpers import not_none
from tests.helpers.local_stack import Sync, local_sync

pytestmark = pytest.mark.slow

WINDOW = (date(2025, 9, 1), date(2025, 9, 10))  # 7 days of tenders, and their updates 2 days later
# 280 tenders publish 308 releases over 7 days; about one in 20 is poisoned, each kind in turn.
FAULTS = Faults(seed=9, poisoned=0.05)


@pytest.fixture(scope="module")
def poisoned_source():
    with SampleSource(start=WINDOW[0], days=7, count=280, faults=FAULTS) as source:
        yield source


@pytest.fixture
def sync(template, database_url, poisoned_source):
    with local_sync(template, database_url, poisoned_source.url, poisoned_source.url) as local:
        yield Sync(local, template, database_url)


def test_a_window_with_poisoned_releases_is_stored_whole(sync: Sync, poisoned_source: SampleSource):
    quarantined_on_purpose = [release for kind, release in poisoned_source.broken]
    kinds = {kind for kind, _ in poisoned_source.poisoned} | {kind for kind, _ in poisoned_source.broken}
    assert kinds == {"nul-text", "lone-surrogate", "huge-amount", "nan-amount", "malformed-ocid"}
    assert len(poisoned_source.poisoned) + len(quarantined_on_purpose) >= 10

    execution = sync.run(**{"from": WINDOW[0].isoformat(), "to": WINDOW[1].isoformat()})

    assert execution.status == "SUCCEEDED", execution.cause
    expected = poisoned_source.expected_tenders()
    tenders = {row["ocid"]: row for row in sync.query("SELECT * FROM tenders")}
    assert {ocid: row["release_id"] for ocid, row in tenders.items()} == {o: r["id"] for o, r in expected.items()}
    categories = {f"ocds-9t57fa-{row['id']}": row["category"].strip() for row in poisoned_source.portal_rows}
    assert all(row["detailed_category"] == categories[ocid] for ocid, row in tenders.items())

    # Each poisoned release that is its tender's newest is stored, cleaned of what PostgreSQL refuses.
    checked = set()
    for kind, release in poisoned_source.poisoned:
        if expected.get(release["ocid"]) is not release:
            continue
        row, published = tenders[release["ocid"]], release["tender"]
        if kind == "nul-text":
            assert row["description"] == published["description"].replace("\x00", "").replace("\r\n", "\n").strip()
            assert all("\x00" not in d["title"] for d in row["raw"]["tender"]["documents"])
        elif kind == "lone-surrogate":
            assert row["description"].endswith(" \ufffd")
        else:
            assert row["value_amount"] is None
            assert row["raw"]["tender"]["value"]["amount"] == ("1e999999" if kind == "huge-amount" else None)
        checked.add(kind)
    assert checked == {"nul-text", "lone-surrogate", "huge-amount", "nan-amount"}

    quarantine = sync.query("SELECT ocid, reason, payload FROM quarantine")
    assert sorted(row["payload"]["id"] for row in quarantine) == sorted(r["id"] for r in quarantined_on_purpose)
    assert all("malformed ocid" in row["reason"] and "/" in row["ocid"] for row in quarantine)

    [job] = sync.query("SELECT * FROM job_log")
    assert (job["status"], job["fetched"], job["quarantined"]) == (
        "SUCCESS",
        len(poisoned_source.releases),
        len(quarantined_on_purpose),
    )
    assert sync.query("SELECT cursor FROM sync_state")[0]["cursor"] == WINDOW[1]
    fetch = not_none(execution.output)["fetch"]
    # An amount out of the column's range is valid JSON: normalization stores it empty, nothing is cleaned.
    assert fetch["cleaned"] == sum(kind != "huge-amount" for kind, _ in poisoned_source.poisoned)
    # No S3 key was made from a malformed ocid.
    keys = [o["Key"] for o in sync.local.s3.list_objects_v2(Bucket="tender-sync-local-artifacts")["Contents"]]
    assert not any("/../" in key for key in keys)
