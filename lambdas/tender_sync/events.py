"""What each step receives from the state machine, parsed by its handler before anything else."""
from typing import Any

from pydantic import BaseModel, ConfigDict

from tender_sync.fetch import FetchSummary
from tender_sync.jobs import Job


class StartEvent(BaseModel):
    """A workflow's first step: the execution input (checked against the workflow's request) and its id."""

    input: Any = None
    executionId: str


class JobEvent(BaseModel):
    job: Job


class StoreEvent(JobEvent):
    """UpsertTenders: the job and what its staging step put in S3."""

    fetch: FetchSummary


class FinishEvent(JobEvent):
    """FinishJob: the whole state; a run whose window was empty has no upsert."""

    model_config = ConfigDict(extra="ignore")

    fetch: dict[str, Any] | None = None
    upsert: dict[str, Any] | None = None


class FailEvent(BaseModel):
    """FailJob: the state as it was when a step failed (it may hold no job yet), and the execution."""

    state: dict[str, Any]
    executionId: str
    workflow: str


class EnrichTenderEvent(BaseModel):
    """EnrichTender: one Map item and where its result goes; as RecordEnrichmentFailure, with the lookup's error
    too (the Catch's {Error, Cause})."""

    ocid: str
    tenderNumber: str | None = None
    bucket: str
    resultsPrefix: str
    error: dict[str, Any] | None = None
