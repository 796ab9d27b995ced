"""The operators' workflows, each its own STANDARD state machine built from the steps every workflow shares
(infra/workflow.py): enrich-today, backfill, single tender and cleanup."""
from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from tender_sync.workflows import BACKFILL, CLEANUP, ENRICH_TODAY, SINGLE_TENDER

from infra.config import SyncConfig
from infra.functions import SyncFunctions
from infra.workflow import WorkflowStateMachine


class EnrichTodayWorkflow(WorkflowStateMachine):
    """StartEnrichToday (stages today's unenriched tenders) -> AnythingToEnrich? -> EnrichTenders -> UpsertTenders
    -> FinishJob. No lease, and the cursor never moves (tender_sync.enrich_today)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: SyncConfig, functions: SyncFunctions, bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id, workflow=ENRICH_TODAY, config=config, functions=functions, bucket=bucket)
        # Its result is the whole state from here on: {job, fetch}, as a sync has them after FetchReleases.
        start = self._start(functions.start_enrich_today, result_path="$")
        anything_to_enrich, upsert_tenders, enrich_tenders = self._enrich_and_store()
        finish_job = self._finish_job()
        self._catch_all(start, enrich_tenders, upsert_tenders, finish_job)
        upsert_tenders.next(finish_job)
        self.state_machine = self._state_machine(start.next(anything_to_enrich), Duration.hours(1))


class BackfillWorkflow(WorkflowStateMachine):
    """StartBackfill -> WindowsLeft? -> FetchReleases -> AnythingToEnrich? -> EnrichTenders -> UpsertTenders ->
    NextWindow -> WindowsLeft? ... -> FinishJob: one window at a time, in order, each stored as a sync stores
    its window (tender_sync.backfill). About 25 history events a window: a year of 7-day windows took 1,341."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: SyncConfig, functions: SyncFunctions, bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id, workflow=BACKFILL, config=config, functions=functions, bucket=bucket)
        start = self._start(functions.start_backfill, result_path="$.job")
        fetch_releases = self._fetch_releases()
        anything_to_enrich, upsert_tenders, enrich_tenders = self._enrich_and_store()
        next_window = self._invoke(
            "NextWindow",
            functions.next_window,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job")}),
            result_path="$.job",
        )
        finish_job = self._finish_job()
        self._catch_all(start, fetch_releases, enrich_tenders, upsert_tenders, next_window, finish_job)

        windows_left = (
            sfn.Choice(self, "WindowsLeft?")
            .when(sfn.Condition.is_null("$.job.window"), finish_job)
            .otherwise(fetch_releases)
        )
        fetch_releases.next(anything_to_enrich)
        upsert_tenders.next(next_window).next(windows_left)
        self.state_machine = self._state_machine(start.next(windows_left), Duration.hours(24))


class SingleTenderWorkflow(WorkflowStateMachine):
    """StartSingleTender -> FetchRelease (the release endpoint) -> AnythingToEnrich? -> EnrichTenders ->
    UpsertTenders -> FinishJob."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: SyncConfig, functions: SyncFunctions, bucket: s3.IBucket
    ) -> None:
        super().__init__(
            scope, construct_id, workflow=SINGLE_TENDER, config=config, functions=functions, bucket=bucket
        )
        start = self._start(functions.start_single_tender, result_path="$.job")
        fetch_release = self._invoke(
            "FetchRelease",
            functions.fetch_release,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job")}),
            result_path="$.fetch",
        )
        anything_to_enrich, upsert_tenders, enrich_tenders = self._enrich_and_store()
        finish_job = self._finish_job()
        self._catch_all(start, fetch_release, enrich_tenders, upsert_tenders, finish_job)
        upsert_tenders.next(finish_job)
        self.state_machine = self._state_machine(start.next(fetch_release).next(anything_to_enrich), Duration.minutes(15))


class CleanupWorkflow(WorkflowStateMachine):
    """CleanupJobs: RUNNING jobs and held leases of executions no longer running become FAILED and free."""

    enriches = False

    def __init__(
        self, scope: Construct, construct_id: str, *, config: SyncConfig, functions: SyncFunctions, bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id, workflow=CLEANUP, config=config, functions=functions, bucket=bucket)
        clean_up = self._start(functions.clean_up_jobs, result_path="$.cleanup")
        self._catch_all(clean_up)
        clean_up.next(sfn.Succeed(self, "CleanupSucceeded"))
        self.state_machine = self._state_machine(clean_up, Duration.minutes(15))
