"""enrich-today: today's tenders still lacking their detailed category, staged for the enrichment Map.

It stages each tender's stored release again, in the shapes FetchReleases writes, so the Map and UpsertTenders
work as in a sync; the same release stored again only fills in the enrichment (upsert.ON_CONFLICT_NEWER). It
holds no lease and never moves the cursor: a concurrent sync storing a newer release simply wins."""
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import psycopg

from tender_sync import jobs
from tender_sync.fetch import FetchSummary, stage_releases
from tender_sync.inputs import EnrichTodayRequest
from tender_sync.models import Window
from tender_sync.publishers import ETENDERS
from tender_sync.settings import ArtifactSettings
from tender_sync.window import source_today
from tender_sync.workflows import ENRICH_TODAY

# Newest first, so a capped run enriches the freshest tenders (tenders_enrichment_pending_idx serves 'failed').
TODAYS_UNENRICHED_SQL = """
SELECT raw FROM tenders
 WHERE release_date >= %(start)s AND release_date < %(end)s
   AND (detailed_category IS NULL OR enrichment_status = 'failed')
 ORDER BY release_date DESC, ocid
 LIMIT %(cap)s
"""


def todays_unenriched_releases(conn: psycopg.Connection, today: date, cap: int) -> Iterator[dict[str, Any]]:
    """The stored releases of tenders released today (South African date), up to `cap`, newest first."""
    start = datetime.combine(today, time(0), ETENDERS.zone)
    with conn.cursor(name="todays_unenriched") as cursor:
        cursor.execute(TODAYS_UNENRICHED_SQL, {"start": start, "end": start + timedelta(days=1), "cap": cap})
        for (raw,) in cursor:
            yield raw


def start(
    conn: psycopg.Connection, settings: ArtifactSettings, execution_id: str, request: EnrichTodayRequest
) -> tuple[jobs.Job, FetchSummary]:
    """Open the job for today and stage its tenders, as FetchReleases stages a window."""
    today = source_today()
    window = Window(date_from=today, date_to=today + timedelta(days=1))
    job = jobs.Job(
        jobId=jobs.open_job(conn, ENRICH_TODAY.name, execution_id, request.triggered_by, window),
        executionId=execution_id,
        workflow=ENRICH_TODAY.name,
        window=window,
        maxEnrichment=request.maxEnrichment,
    )
    releases = todays_unenriched_releases(conn, today, request.maxEnrichment)
    return job, stage_releases(releases, settings.bucket_name, job.artifacts_prefix, request.maxEnrichment)
