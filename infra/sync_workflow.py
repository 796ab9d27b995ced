"""The sync state machine: StartJob -> FetchReleases -> UpsertTenders -> PlanLookups -> LookUpTenders (Distributed
Map) -> StoreLookups -> PrepareChanges -> PublishChanges (EventBridge) -> RecordPublished -> FinishJob. The other
workflows are in infra/operations.py."""

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackConfig
from infra.functions import WorkflowFunctions
from infra.workflow import WorkflowStateMachine
from tender_sync.workflows import SYNC


class SyncWorkflow(WorkflowStateMachine):
    """The sync: the next window after the cursor (or the one asked for), under the lease."""

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
        super().__init__(scope, construct_id, workflow=SYNC, config=config, functions=functions, bucket=bucket, bus=bus)
        start_job = self._start(functions.start_job, result_path="$.job")
        fetch_releases = self._fetch_releases()
        upsert_tenders = self._upsert_tenders()
        finish_job = self._finish_job()
        look_up, look_up_steps = self._look_up(self._announce_changes(finish_job))
        self._catch_all(start_job, fetch_releases, upsert_tenders, *look_up_steps, finish_job)
        # The window is stored, and the cursor moved, before any of the backlog is looked up.
        lease_held = (
            sfn.Choice(self, "LeaseHeld?")
            .when(sfn.Condition.boolean_equals("$.job.skipped", True), sfn.Succeed(self, "SkippedAnotherRunActive"))
            .otherwise(fetch_releases.next(upsert_tenders).next(look_up))
        )
        self.state_machine = self._state_machine(start_job.next(lease_held), Duration.hours(1))
