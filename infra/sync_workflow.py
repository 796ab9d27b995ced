"""The sync state machine: StartJob -> FetchReleases -> EnrichTenders (Distributed Map) -> UpsertTenders ->
FinishJob. The other workflows are in infra/operations.py."""
from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from tender_sync.workflows import SYNC

from infra.config import SyncConfig
from infra.functions import SyncFunctions
from infra.workflow import WorkflowStateMachine


class SyncWorkflow(WorkflowStateMachine):
    """The sync: the next window after the cursor (or the one asked for), under the lease."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: SyncConfig, functions: SyncFunctions, bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id, workflow=SYNC, config=config, functions=functions, bucket=bucket)
        start_job = self._start(functions.start_job, result_path="$.job")
        fetch_releases = self._fetch_releases()
        finish_job = self._finish_job()
        anything_new = sfn.Choice(self, "AnythingNew?").when(sfn.Condition.number_equals("$.fetch.fetched", 0), finish_job)
        anything_new, upsert_tenders, enrich_tenders = self._enrich_and_store(anything_new)
        self._catch_all(start_job, fetch_releases, enrich_tenders, upsert_tenders, finish_job)
        upsert_tenders.next(finish_job)
        lease_held = (
            sfn.Choice(self, "LeaseHeld?")
            .when(sfn.Condition.boolean_equals("$.job.skipped", True), sfn.Succeed(self, "SkippedAnotherRunActive"))
            .otherwise(fetch_releases.next(anything_new))
        )
        self.state_machine = self._state_machine(start_job.next(lease_held), Duration.hours(1))
