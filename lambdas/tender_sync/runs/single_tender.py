"""single-tender: one ocid fetched from the release endpoint, stored, and looked up if it needs it."""

import psycopg

from tender_sync.models.jobs import SingleTenderJob
from tender_sync.storage.job_log import open_job
from tender_sync.workflows import SINGLE_TENDER


def start(conn: psycopg.Connection, execution_id: str, ocid: str) -> SingleTenderJob:
    """The job for one ocid: no window, no lease, and its one tender looked up if it needs it."""
    job_id = open_job(conn, SINGLE_TENDER.name, execution_id, "manual", None)
    return SingleTenderJob(jobId=job_id, executionId=execution_id, ocid=ocid, maxEnrichment=1)
