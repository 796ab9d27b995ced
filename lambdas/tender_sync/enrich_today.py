"""enrich-today: the backlog's tenders released today (South African date), looked up at once by an admin rather
than waiting for the schedule, up to the run's cap. It holds no lease and never moves the cursor."""
from datetime import timedelta

import psycopg

from tender_sync import jobs
from tender_sync.inputs import EnrichTodayRequest
from tender_sync.models import Window
from tender_sync.window import source_today
from tender_sync.workflows import ENRICH_TODAY


def start(conn: psycopg.Connection, execution_id: str, request: EnrichTodayRequest) -> jobs.Job:
    """Open the job for today: its lookups are chosen among the tenders released today (backlog.plan_lookups)."""
    today = source_today()
    window = Window(date_from=today, date_to=today + timedelta(days=1))
    return jobs.Job(
        jobId=jobs.open_job(conn, ENRICH_TODAY.name, execution_id, request.triggered_by, window),
        executionId=execution_id,
        workflow=ENRICH_TODAY.name,
        window=window,
        lookupsWithin=window,
        maxEnrichment=request.maxEnrichment,
    )
