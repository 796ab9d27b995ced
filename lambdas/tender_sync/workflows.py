"""The workflows, each declared once: what infra/ builds, what job_log records, what the CLI starts and the tests
run, all read from here."""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from tender_sync.models.inputs import (
    AlertsRequest,
    BackfillRequest,
    CleanupRequest,
    EnrichTodayRequest,
    SingleTenderRequest,
    SyncRequest,
)

Request = TypeVar("Request", bound=BaseModel)


@dataclass(frozen=True)
class Workflow(Generic[Request]):
    # Its job_log.workflow, and its name on the command line.
    name: str
    # The prefix of its state machine's construct id, end states and stack output: SyncStateMachine, SyncFailed.
    title: str
    # Its execution input, parsed by its first step before anything is written.
    request: type[Request]
    first_step: str
    # The detail-type of the app's event that starts it on the stack's bus (tender_sync.app_events), if any.
    detail_type: str | None = None

    @property
    def stack_output(self) -> str:
        """The stack output naming its state machine's ARN."""
        return f"{self.title}StateMachineArn"

    def state_machine_id(self, template: dict[str, Any]) -> str:
        """Its state machine's logical id in a synthesized template."""
        return str(template["Outputs"][self.stack_output]["Value"]["Ref"])

    @property
    def arn_variable(self) -> str:
        """The environment variable naming its state machine's ARN, for the function that starts it from the app's
        events: SYNC_STATE_MACHINE_ARN."""
        return f"{self.name.upper().replace('-', '_')}_STATE_MACHINE_ARN"


SYNC = Workflow("sync", "Sync", SyncRequest, "StartJob", "tender/sync.requested")
ENRICH_TODAY = Workflow(
    "enrich-today", "EnrichToday", EnrichTodayRequest, "StartEnrichToday", "tender/enrich-today.requested"
)
BACKFILL = Workflow("backfill", "Backfill", BackfillRequest, "StartBackfill", "tender/backfill.requested")
# One tender/enrich.requested event per tender: the app events' consumer gathers a batch's into one run of several ocids.
SINGLE_TENDER = Workflow(
    "single-tender", "SingleTender", SingleTenderRequest, "StartSingleTender", "tender/enrich.requested"
)
CLEANUP = Workflow("cleanup", "Cleanup", CleanupRequest, "CleanupJobs")
# Started by each Tenders Changed event (and a schedule, for digests and retries).
ALERTS = Workflow("alerts", "Alerts", AlertsRequest, "MatchAlerts")

WORKFLOWS = {workflow.name: workflow for workflow in (SYNC, ENRICH_TODAY, BACKFILL, SINGLE_TENDER, CLEANUP, ALERTS)}
# The workflows that open a job and store tenders (cleanup only tidies up after them).
JOB_WORKFLOWS = (SYNC, ENRICH_TODAY, BACKFILL, SINGLE_TENDER)
# The workflows the app's events start, by their detail-type.
REQUESTED: dict[str, Workflow[Any]] = {w.detail_type: w for w in WORKFLOWS.values() if w.detail_type is not None}
