"""What each step receives from the state machine, parsed by its handler before anything else."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tender_sync.alerts.models import DeliveryItem, DeliveryPlan
from tender_sync.changes.events import ToPublish
from tender_sync.models.jobs import BackfillJob, Job, SingleTenderJob, SyncJob
from tender_sync.models.lookups import LookupBatch, LookupPlan
from tender_sync.source.staging import FetchSummary


class StartEvent(BaseModel):
    """A workflow's first step: the execution input (checked against the workflow's request) and its id."""

    input: Any = None
    executionId: str


class JobEvent(BaseModel):
    """A later step: the job its workflow's first step opened."""

    job: Job


class WindowEvent(BaseModel):
    """FetchReleases: a job with a window to fetch (the sync's, or a backfill's current one)."""

    job: Annotated[SyncJob | BackfillJob, Field(discriminator="workflow")]


class SingleTenderEvent(BaseModel):
    """FetchRelease: the single tender's job."""

    job: SingleTenderJob


class BackfillEvent(BaseModel):
    """NextWindow: the backfill's job."""

    job: BackfillJob


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


class LookUpBatchEvent(BaseModel):
    """LookUpBatch: one Map item, where its result goes, how often it may start a lookup and by when its run's range
    of the portal's schedule ends; as RecordLookupFailure, with the batch's error too (the Catch's {Error, Cause})."""

    item: LookupBatch
    bucket: str
    resultsPrefix: str
    secondsBetweenLookups: float
    notAfter: datetime | None = None
    error: dict[str, Any] | None = None


class AlertsPlan(DeliveryPlan):
    """MatchAlerts' output: the run's deliveries (DeliveryPlan), and what its event matched."""

    executionId: str
    # The change event matched (None: a scheduled run), and whether an earlier run had matched it already.
    event: str | None = None
    duplicate: bool = False
    # Tenders newly due a notification, and the subscriptions they are for.
    notices: int = 0
    subscriptions: int = 0
    # Why the run did nothing (the database not configured yet).
    skipped: str | None = None


class AlertsEvent(BaseModel):
    """RecordDeliveries: the plan MatchAlerts made."""

    alerts: AlertsPlan


class DeliverBatchEvent(BaseModel):
    """DeliverBatch: one Map item (a batch's number), where its batch is and its result goes, and how often it may
    send an email; as RecordDeliveryFailure, with the batch's error too (the Catch's {Error, Cause})."""

    item: DeliveryItem
    bucket: str
    batchesPrefix: str
    resultsPrefix: str
    secondsBetweenEmails: float
    error: dict[str, Any] | None = None
