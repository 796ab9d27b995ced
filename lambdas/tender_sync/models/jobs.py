"""What a workflow's first step hands to its later steps: one Job model per workflow, told apart by `workflow`."""

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from tender_sync.storage.artifacts import run_prefix


class Window(BaseModel):
    """A half-open date window [date_from, date_to) of release dates; `from` and `to` in JSON, as an execution
    input gives them."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")


class BackfillPlan(BaseModel):
    """What a backfill works through: [rangeFrom, rangeTo) in windows of windowDays days, in order."""

    rangeFrom: date
    rangeTo: date
    windowDays: int


class JobBase(BaseModel):
    """What every workflow's job holds: its job_log row, its execution and its cap on lookups."""

    jobId: int | None
    executionId: str
    maxEnrichment: int = 0

    @property
    def artifacts_prefix(self) -> str:
        """Where the run's artifacts go in S3."""
        return run_prefix(self.executionId)


class SyncJob(JobBase):
    """The sync: the window after the cursor (or the one asked for), unless another run holds the lease."""

    workflow: Literal["sync"] = "sync"
    skipped: bool = False
    reason: str | None = None
    window: Window | None = None
    # The cursor to store with the window, or None to leave it alone.
    cursorAfter: date | None = None


class EnrichTodayJob(JobBase):
    """enrich-today: the lookups are chosen among the tenders released within its window (today)."""

    workflow: Literal["enrich-today"] = "enrich-today"
    window: Window


class BackfillJob(JobBase):
    """A backfill: its plan, and the window it works on now (None once every window is stored)."""

    workflow: Literal["backfill"] = "backfill"
    backfill: BackfillPlan
    window: Window | None

    @property
    def artifacts_prefix(self) -> str:
        """Each window's artifacts apart, so that one window's lookup results are never read as another's."""
        if self.window is None:
            return run_prefix(self.executionId)
        return f"{run_prefix(self.executionId)}{self.window.date_from.isoformat()}/"


class SingleTenderJob(JobBase):
    """single-tender: its ocids (one, or several gathered from the app's events), no window."""

    workflow: Literal["single-tender"] = "single-tender"
    ocids: list[str]

    @model_validator(mode="before")
    @classmethod
    def one_ocid(cls, data: Any) -> Any:
        """A job of one `ocid`, as this workflow's jobs were before it took several (an execution redriven after
        a deploy carries one)."""
        if isinstance(data, dict) and "ocid" in data and "ocids" not in data:
            data = {**{key: value for key, value in data.items() if key != "ocid"}, "ocids": [data["ocid"]]}
        return data


Job = Annotated[SyncJob | EnrichTodayJob | BackfillJob | SingleTenderJob, Field(discriminator="workflow")]
# A job of any workflow, from its JSON: the one model that reads the `workflow` field to choose.
JOBS: TypeAdapter[Job] = TypeAdapter(Job)


class FinishedJob(BaseModel):
    """A job's stored counts and how long it ran."""

    counts: dict[str, int]
    seconds: float
