"""What each step receives from the state machine, parsed by its handler before anything else."""
from typing import Any

from pydantic import BaseModel, ConfigDict

from tender_sync.changes import ToPublish
from tender_sync.fetch import FetchSummary
from tender_sync.jobs import Job
from tender_sync.models import EnrichmentBatch, LookupPlan


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
    """FinishJob: the whole state, of which it reads the job."""

    model_config = ConfigDict(extra="ignore")


class FailEvent(BaseModel):
    """FailJob: the state as it was when a step failed (it may hold no job yet), and the execution."""

    state: dict[str, Any]
    executionId: str
    workflow: str


class LookupsEvent(JobEvent):
    """StoreLookups: the job and the plan its lookups followed."""

    lookups: LookupPlan


class PublishedEvent(JobEvent):
    """RecordPublished: the whole state, of which it reads the job, the events PrepareChanges gave PublishChanges,
    and what PublishChanges ended with: PutEvents' answer (EventBridge took every entry), or the error it gave up
    with ({Error, Cause})."""

    model_config = ConfigDict(extra="ignore")

    changes: ToPublish
    published: dict[str, Any]

    @property
    def publish_error(self) -> dict[str, Any] | None:
        return self.published if "Error" in self.published else None


class EnrichBatchEvent(BaseModel):
    """EnrichBatch: one Map item, where its result goes and how often it may start a lookup; as
    RecordEnrichmentFailure, with the batch's error too (the Catch's {Error, Cause})."""

    item: EnrichmentBatch
    bucket: str
    resultsPrefix: str
    secondsBetweenLookups: float
    error: dict[str, Any] | None = None
