"""What each step receives: its event as the state machine passes it, parsed with Powertools Parser."""
from typing import Any

from pydantic import BaseModel

from tender_sync.jobs import Job


class JobEvent(BaseModel):
    """FetchReleases and FetchRelease: the job the workflow's first step opened."""

    job: Job


class EnrichTenderEvent(BaseModel):
    """EnrichTender: one Map item and where its result goes; as RecordEnrichmentFailure, with the lookup's error
    too (the Catch's {Error, Cause})."""

    ocid: str
    tenderNumber: str | None = None
    bucket: str
    resultsPrefix: str
    error: dict[str, Any] | None = None
