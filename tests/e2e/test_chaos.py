"""Chaos: many sync executions, two at a time, against a source failing in every way it can and a database
that drops connections; then the database against the source's ground truth. Bounded: it stops once the
cursor has passed the source's last day, or after MAX_EXECUTIONS."""

import json
import random
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest

from local.bench.database_proxy import DatabaseProxy
from local.engine.stack import Execution, LocalStack
from local.sample_source.faults import DATA_FAULTS, REQUEST_FAULTS, Faults
from local.sample_source.server import SampleSource
from tender_sync.workflows import SYNC
from tests.helpers.local_stack import Sync

pytestmark = pytest.mark.slow

SEED = 20250901
FAULTS = Faults(seed=SEED, rate=0.4, broken=0.05, unstable_paging=True, slow_seconds=1.5, retry_after=1)
SOURCE_DAYS = 28  # releases from 2025-09-01 (cdk.json firstRunFrom); updates come up to 2 days later
DATABASE_REFUSED, DATABASE_CUT = 0.05, 0.05  # shares of database connections refused, and cut mid-way
# And one outage longer than a step's four attempts: that step fails, and with it the run.
OUTAGE = range(start := random.Random(SEED).randrange(8, 30), start + 5)
MAX_EXECUTIONS = 30
SAST = timezone(timedelta(hours=2))


def database_fault(number: int) -> str | None:
    """The fate of the database connection numbered `number` (see DatabaseProxy)."""
    if number in OUTAGE:
        return "refuse"
    draw = random.Random(f"{SEED}:database:{number}").random()
    return "refuse" if draw < DATABASE_REFUSED else "cut" if draw < DATABASE_REFUSED + DATABASE_CUT else None


def stored_its_window(execution) -> bool:
    """Whether the execution got past the step that stores the window and moves the cursor."""
    exited = {
        event["stateExitedEventDetails"]["name"] for event in execution.history if "stateExitedEventDetails" in event
    }
    return bool(exited & {"UpsertTenders", "FinishJob"})


def canonical(document) -> str:
    return json.dumps(document, sort_keys=True)


@pytest.mark.xdist_group("chaos")
def test_chaos_leaves_the_database_exactly_as_the_source(template, database_url):
    source = SampleSource(days=SOURCE_DAYS, count=240, faults=FAULTS)
    last_day = max(date.fromisoformat(r["id"][-10:]) for r in source.releases)
    with source, DatabaseProxy(database_url, database_fault) as proxy:
        environment = {
            "DATABASE_URL": proxy.url,
            "OCDS_BASE_URL": source.url,
            "PORTAL_BASE_URL": source.url,
            "SOURCE_TIMEOUT_SECONDS": "0.5",
        }
        with LocalStack(template, environment) as local:
            sync = Sync(local, template, database_url)
            executions: list[Execution] = []
            while len(executions) < MAX_EXECUTIONS:
                started = [local.start(SYNC.state_machine_id(template), {"triggeredBy": "chaos"}) for _ in range(2)]
                executions += [local.wait(arn) for arn in started]
                cursor = (sync.query("SELECT cursor FROM sync_state") or [{"cursor": None}])[0]["cursor"]
                if cursor and cursor > last_day:
                    break
        faults = {**source.fault_counts(), **{f"database-{kind}": n for kind, n in proxy.faults.items()}}

    jobs = sync.query("SELECT * FROM job_log ORDER BY id")
    tenders = {row["ocid"]: row for row in sync.query("SELECT * FROM tenders")}
    tender_rows = sync.query("SELECT count(*) AS n FROM tenders")[0]["n"]
    quarantine = sync.query("SELECT * FROM quarantine")
    expected = source.expected_tenders()
    broken = {canonical(release) for _, release in source.broken}
    quarantined = Counter(canonical(row["payload"]) for row in quarantine)

    # The listing of every stored window, release for release: fewer is loss, more is duplication.
    listed_per_job = [
        (
            job["fetched"],
            sum(
                len(source.releases_listed_on(job["window_from"] + timedelta(days=n)))
                for n in range((job["window_to"] - job["window_from"]).days)
            ),
        )
        for job in jobs
        if job["status"] == "SUCCESS"
    ]
    missing = set(expected) - set(tenders)
    stale = {o for o, row in tenders.items() if o in expected and row["release_id"] != expected[o]["id"]}
    altered = {o for o, row in tenders.items() if o in expected and o not in stale and row["raw"] != expected[o]}
    unknown = set(tenders) - set(expected)
    lost = (
        len(missing)
        + len(stale)
        + len(altered)
        + len(broken - set(quarantined))
        + sum(max(0, listed - fetched) for fetched, listed in listed_per_job)
    )
    duplicates = (
        tender_rows
        - len(tenders)
        + sum(n - 1 for n in quarantined.values())
        + len(unknown)
        + len(set(quarantined) - broken)
        + sum(max(0, fetched - listed) for fetched, listed in listed_per_job)
    )
    # A run may store its window and still fail after (FinishJob out of attempts): the window counts as stored.
    stored_by = {execution.arn for execution in executions if stored_its_window(execution)}
    covered = {
        job["window_from"] + timedelta(days=n)
        for job in jobs
        if job["execution_id"] in stored_by
        for n in range((job["window_to"] - job["window_from"]).days)
    }
    final_cursor = sync.query("SELECT cursor FROM sync_state")[0]["cursor"]
    first_day = min(job["window_from"] for job in jobs if job["window_from"])
    gaps = [
        first_day + timedelta(days=n)
        for n in range((final_cursor - first_day).days)
        if first_day + timedelta(days=n) not in covered
    ]
    statuses = Counter(job["status"] for job in jobs)
    enrichment = Counter(row["enrichment_status"] for row in tenders.values())

    print(
        f"\nchaos (seed {SEED}, request fault rate {FAULTS.rate}, broken releases {FAULTS.broken}, unstable paging):\n"
        f"  executions:         {len(executions)} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))};"
        f" {sum(e.seconds for e in executions):.0f} s)\n"
        f"  faults injected:    {', '.join(f'{kind} {n}' for kind, n in sorted(faults.items()))}"
        f" ({sum(faults.values())})\n"
        f"  releases in source: {len(source.releases)} ({len(source.broken)} broken on purpose,"
        f" {len(expected)} tenders expected)\n"
        f"  tenders stored:     {len(tenders)} ({', '.join(f'{n} {s}' for s, n in sorted(enrichment.items()))})\n"
        f"  quarantined:        {len(quarantine)}\n"
        f"  duplicates:         {duplicates}\n"
        f"  lost:               {lost}\n"
        f"  cursor gaps:        {len(gaps)} (cursor {final_cursor})\n"
        f"  failed runs:        {', '.join(job['error'].split(': ')[0] for job in jobs if job['status'] == 'FAILED')}"
    )

    assert final_cursor > last_day, f"the cursor stopped at {final_cursor} after {len(executions)} executions"
    assert lost == 0 and duplicates == 0 and gaps == []
    assert set(quarantined) == broken  # exactly the releases broken on purpose
    assert all(row["reason"] for row in quarantine)
    assert statuses["SUCCESS"] >= 4 and statuses["SKIPPED"] > 0 and statuses["RUNNING"] == 0
    # Times labelled Z are South African wall-clock; the 0001-01-01 sentinel is "no closing date".
    for ocid, row in tenders.items():
        end = expected[ocid]["tender"]["tenderPeriod"]["endDate"]
        wall_clock = None if end.startswith("0001-01-01") else datetime.fromisoformat(end[:-1]).replace(tzinfo=SAST)
        assert row["close_date"] == wall_clock, ocid
    # Every lookup ends enriched with the portal's category, or failed with its error for the next pass.
    categories = {f"ocds-9t57fa-{row['id']}": row["category"] for row in source.portal_rows}
    assert set(enrichment) <= {"enriched", "failed"}
    for ocid, row in tenders.items():
        if row["enrichment_status"] == "enriched":
            assert row["detailed_category"] == categories[ocid].strip(), ocid
        else:
            assert row["enrichment_error"], ocid
    every_kind = {*REQUEST_FAULTS, *DATA_FAULTS, "unstable-paging", "database-refuse", "database-cut"}
    assert every_kind <= set(faults), f"never injected: {every_kind - set(faults)}"
