"""Cleanup: job_log rows left RUNNING, leases left held and lookup claims left standing, by executions that are no
longer running; change events sent long ago; the keys of the app's events received long ago; and alerts runs,
matched events and delivered deliveries of long ago.

An execution stopped from outside (aborted, timed out) never reaches FailJob, so its row stays RUNNING and
its lease stays taken until it expires. Each is checked against Step Functions (DescribeExecution) here."""

from collections.abc import Callable

import psycopg
from aws_lambda_powertools import Logger
from pydantic import BaseModel

from tender_sync.alerts import runs as alert_runs
from tender_sync.app_events import ledger
from tender_sync.changes import outbox
from tender_sync.storage import cursor, job_log
from tender_sync.workflows import CLEANUP

logger = Logger(child=True)

# An execution's status, or None when Step Functions has no such execution; raises when it may not be asked.
DescribeStatus = Callable[[str], str | None]


class CleanupResult(BaseModel):
    checked: int
    jobsFailed: list[str]
    leasesFreed: list[str]
    # Executions whose claims on tenders due a lookup were released (tender_sync.lookups.plan).
    claimsReleased: list[str] = []
    changeEventsForgotten: int = 0
    requestedEventsForgotten: int = 0
    alertRowsForgotten: int = 0
    # Why nothing was checked, when nothing could be (the database is not configured yet).
    skipped: str | None = None


def run(
    conn: psycopg.Connection, source: str, execution_id: str, triggered_by: str, status_of: DescribeStatus
) -> CleanupResult:
    """One cleanup run, logged as a cleanup job; change events long sent, and app events' keys long seen, are
    forgotten too."""
    result = clean_up(conn, status_of)
    result.changeEventsForgotten = outbox.forget_sent(conn)
    result.requestedEventsForgotten = ledger.forget_old(conn)
    result.alertRowsForgotten = alert_runs.forget_old(conn)
    job_id = job_log.open_job(conn, CLEANUP.name, execution_id, triggered_by, None)
    job_log.finish_job(conn, source, job_id, execution_id, None)
    return result


def clean_up(
    conn: psycopg.Connection, status_of: DescribeStatus, why: Callable[[str | None], str] | None = None
) -> CleanupResult:
    """Each job, lease and claim of an execution no longer running (by status_of) closed: the job FAILED with
    `why` its execution ended (its status, None when there is no such execution), as of now."""
    running_jobs = conn.execute(
        "SELECT id, execution_id FROM job_log WHERE status = 'RUNNING' AND execution_id IS NOT NULL ORDER BY id"
    ).fetchall()
    leases = conn.execute(
        "SELECT source, lease_holder FROM sync_state WHERE lease_holder IS NOT NULL ORDER BY source"
    ).fetchall()
    claimants = [row[0] for row in conn.execute("SELECT DISTINCT execution_id FROM lookup_claims ORDER BY 1")]
    statuses: dict[str, str | None] = {}
    checked = {execution_id for _, execution_id in running_jobs} | {holder for _, holder in leases} | set(claimants)
    for execution_id in checked:
        try:
            statuses[execution_id] = status_of(execution_id)
        except Exception as error:  # noqa: BLE001 - not ours to judge (another stack's, or a malformed id): left alone
            logger.warning("execution not checked", extra={"executionId": execution_id, "error": str(error)})

    failed, freed = [], []
    for job_id, execution_id in running_jobs:
        if execution_id in statuses and statuses[execution_id] != "RUNNING":
            reason = (why or _reason)(statuses[execution_id])
            updated = conn.execute(
                """UPDATE job_log SET status = 'FAILED', error = %s, finished_at = now()
                    WHERE id = %s AND status = 'RUNNING' RETURNING id""",
                (reason, job_id),
            ).fetchone()
            if updated:
                failed.append(execution_id)
                logger.info("stale job failed", extra={"jobId": job_id, "executionId": execution_id, "reason": reason})
    for source, holder in leases:
        if holder in statuses and statuses[holder] != "RUNNING":
            cursor.release_lease(conn, source, holder)
            freed.append(holder)
            logger.info("stale lease freed", extra={"source": source, "executionId": holder})
    released = []
    for claimant in claimants:
        if claimant in statuses and statuses[claimant] != "RUNNING":
            conn.execute("DELETE FROM lookup_claims WHERE execution_id = %s", (claimant,))
            released.append(claimant)
            logger.info("stale claims released", extra={"executionId": claimant})
    return CleanupResult(checked=len(statuses), jobsFailed=failed, leasesFreed=freed, claimsReleased=released)


def _reason(status: str | None) -> str:
    if status is None:
        return "cleanup: its execution no longer exists, and never finished the job"
    return f"cleanup: its execution ended {status} without finishing the job"
