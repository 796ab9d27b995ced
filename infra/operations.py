"""The operators' workflows, each its own STANDARD state machine built from the steps every workflow shares
(infra/workflow.py): enrich-today, backfill, single tender and cleanup."""

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackConfig
from infra.functions import WorkflowFunctions
from infra.workflow import WorkflowStateMachine
from tender_sync.workflows import BACKFILL, CLEANUP, ENRICH_TODAY, SINGLE_TENDER


class EnrichTodayWorkflow(WorkflowStateMachine):
    """StartEnrichToday -> PlanLookups (today's tenders due a lookup) -> AnythingToLookUp? -> WaitForPortal -> LookUpTenders ->
    StoreLookups -> PrepareChanges -> PublishChanges -> RecordPublished -> FinishJob. No lease, and the cursor
    never moves (tender_sync.runs.enrich_today)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: WorkflowFunctions,
        bucket: s3.IBucket,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(
            scope, construct_id, workflow=ENRICH_TODAY, config=config, functions=functions, bucket=bucket, bus=bus
        )
        start = self._start(functions.start_enrich_today, result_path="$.job")
        finish_job = self._finish_job()
        look_up, look_up_steps = self._look_up(self._announce_changes(finish_job))
        self._catch_all(start, *look_up_steps, finish_job)
        self.state_machine = self._state_machine(start.next(look_up), Duration.hours(1))


class BackfillWorkflow(WorkflowStateMachine):
    """StartBackfill -> WindowsLeft? -> FetchReleases -> UpsertTenders -> PlanLookups -> AnythingToLookUp? -> WaitForPortal ->
    LookUpTenders -> StoreLookups -> PrepareChanges -> PublishChanges -> RecordPublished -> NextWindow ->
    WindowsLeft? ... -> FinishJob: one window at a time, in order, each stored and announced as a sync stores
    and announces its window (tender_sync.runs.backfill)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: WorkflowFunctions,
        bucket: s3.IBucket,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(
            scope, construct_id, workflow=BACKFILL, config=config, functions=functions, bucket=bucket, bus=bus
        )
        start = self._start(functions.start_backfill, result_path="$.job")
        fetch_releases = self._fetch_releases()
        upsert_tenders = self._upsert_tenders()
        next_window = self._invoke(
            "NextWindow",
            functions.next_window,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job")}),
            result_path="$.job",
        )
        look_up, look_up_steps = self._look_up(self._announce_changes(next_window))
        finish_job = self._finish_job()
        self._catch_all(start, fetch_releases, upsert_tenders, *look_up_steps, next_window, finish_job)

        windows_left = (
            sfn.Choice(self, "WindowsLeft?")
            .when(sfn.Condition.is_null("$.job.window"), finish_job)
            .otherwise(fetch_releases)
        )
        fetch_releases.next(upsert_tenders).next(look_up)
        next_window.next(windows_left)
        self.state_machine = self._state_machine(start.next(windows_left), Duration.hours(24))


class SingleTenderWorkflow(WorkflowStateMachine):
    """StartSingleTender -> FetchRelease (the release endpoint) -> UpsertTenders -> PlanLookups (its one tender,
    if due) -> AnythingToLookUp? -> WaitForPortal -> LookUpTenders -> StoreLookups -> PrepareChanges -> PublishChanges ->
    RecordPublished -> FinishJob."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: WorkflowFunctions,
        bucket: s3.IBucket,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(
            scope, construct_id, workflow=SINGLE_TENDER, config=config, functions=functions, bucket=bucket, bus=bus
        )
        start = self._start(functions.start_single_tender, result_path="$.job")
        fetch_release = self._invoke(
            "FetchRelease",
            functions.fetch_release,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job")}),
            result_path="$.fetch",
        )
        upsert_tenders = self._upsert_tenders()
        finish_job = self._finish_job()
        look_up, look_up_steps = self._look_up(self._announce_changes(finish_job))
        self._catch_all(start, fetch_release, upsert_tenders, *look_up_steps, finish_job)
        self.state_machine = self._state_machine(
            start.next(fetch_release).next(upsert_tenders).next(look_up), Duration.minutes(15)
        )


class CleanupWorkflow(WorkflowStateMachine):
    """CleanupJobs: RUNNING jobs and held leases of executions no longer running become FAILED and free."""

    fans_out = False
    announces = False

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: WorkflowFunctions,
        bucket: s3.IBucket,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(
            scope, construct_id, workflow=CLEANUP, config=config, functions=functions, bucket=bucket, bus=bus
        )
        clean_up = self._start(functions.clean_up_jobs, result_path="$.cleanup")
        self._catch_all(clean_up)
        clean_up.next(sfn.Succeed(self, "CleanupSucceeded"))
        self.state_machine = self._state_machine(clean_up, Duration.minutes(15))
