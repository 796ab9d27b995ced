"""The steps every workflow's state machine shares (WorkflowStateMachine): each workflow's own is in
infra/sync_workflow.py (the sync) and infra/operations.py (the others)."""

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config import StackConfig
from infra.functions import WorkflowFunctions
from tender_sync.errors import TRANSIENT_ERRORS, error_names
from tender_sync.workflows import Workflow

# Retried: our transient errors (their class names are the Lambda errorType) and the Lambda service's own.
RETRIED_ERRORS = [
    *error_names(TRANSIENT_ERRORS),
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


class WorkflowStateMachine(Construct):
    """One STANDARD state machine's steps. Every workflow builds its own LookUpTenders -> UpsertTenders,
    FinishJob and FailJob here; any step that fails is caught by FailJob, which records why, then fails the run."""

    # The state machine, built by each workflow's subclass.
    state_machine: sfn.StateMachine
    # Whether the state machine runs a Distributed Map (its role then reads the items from S3 and runs child
    # executions), and whether it announces its changes on the bus.
    fans_out = True
    announces = True

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        workflow: Workflow[Any],
        config: StackConfig,
        functions: WorkflowFunctions,
        bucket: s3.IBucket,
        bus: events.IEventBus,
    ) -> None:
        """workflow: the one it runs (tender_sync.workflows): its title prefixes the state machine's id and end
        states (SyncStateMachine, SyncFailed), its name is what job_log records."""
        super().__init__(scope, construct_id)
        self.name, self.workflow = workflow.title, workflow
        self.config, self.functions, self.bucket, self.bus = config, functions, bucket, bus
        # The functions this state machine invokes (infra/checks.py acknowledges their grants).
        self.invoked_functions: list[lambda_.IFunction] = []
        fail_step, fail_function = self._failure_step()
        self.fail_job = self._invoke(
            fail_step,
            fail_function,
            # The state may not hold a job yet (the first step itself failed), so the execution id comes along.
            sfn.TaskInput.from_object(
                {
                    "state": sfn.JsonPath.entire_payload,
                    "executionId": sfn.JsonPath.execution_id,
                    "workflow": workflow.name,
                }
            ),
            result_path="$.failJob",
        )
        self.fail_job.next(
            sfn.Fail(self, f"{self.name}Failed", error=f"{self.name}Failed", cause_path="$.failJob.error")
        )

    def _failure_step(self) -> tuple[str, lambda_.IFunction]:
        """The step every failure is caught by, and its function: FailJob, which records the job's failure."""
        return "FailJob", self.functions.fail_job

    def _start(self, function: lambda_.IFunction, *, result_path: str) -> tasks.LambdaInvoke:
        """The workflow's first step: it gets the execution input and the execution id."""
        return self._invoke(
            self.workflow.first_step,
            function,
            sfn.TaskInput.from_object({"input": sfn.JsonPath.entire_payload, "executionId": sfn.JsonPath.execution_id}),
            result_path=result_path,
        )

    def _fetch_releases(self) -> tasks.LambdaInvoke:
        return self._invoke(
            "FetchReleases",
            self.functions.fetch_releases,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job")}),
            result_path="$.fetch",
        )

    def _upsert_tenders(self) -> tasks.LambdaInvoke:
        return self._invoke(
            "UpsertTenders",
            self.functions.upsert_tenders,
            sfn.TaskInput.from_object(
                {"job": sfn.JsonPath.object_at("$.job"), "fetch": sfn.JsonPath.object_at("$.fetch")}
            ),
            result_path="$.upsert",
        )

    def _finish_job(self) -> tasks.LambdaInvoke:
        finish_job = self._invoke("FinishJob", self.functions.finish_job, result_path="$.finish")
        finish_job.next(sfn.Succeed(self, f"{self.name}Succeeded"))
        return finish_job

    def _look_up(
        self, after: sfn.IChainable
    ) -> tuple[tasks.LambdaInvoke, list[sfn.TaskStateBase | sfn.DistributedMap]]:
        """PlanLookups -> AnythingToLookUp? -> WaitForPortal -> LookUpTenders -> StoreLookups -> `after`: the
        backlog's tenders due a lookup, in batches, once the run's range of the portal's schedule begins (with none
        due, straight to `after`). Returns the way in, and the steps FailJob catches."""
        plan_lookups = self._invoke(
            "PlanLookups",
            self.functions.plan_lookups,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job")}),
            result_path="$.lookups",
        )
        look_up_tenders = self._look_up_tenders(self.config, self.functions, self.bucket)
        store_lookups = self._invoke(
            "StoreLookups",
            self.functions.store_lookups,
            sfn.TaskInput.from_object(
                {"job": sfn.JsonPath.object_at("$.job"), "lookups": sfn.JsonPath.object_at("$.lookups")}
            ),
            result_path="$.looked",
        )
        # Runs at once share the portal: this run's lookups start when its range of the portal's schedule does.
        wait_for_portal = sfn.Wait(self, "WaitForPortal", time=sfn.WaitTime.timestamp_path("$.lookups.notBefore")).next(
            look_up_tenders
        )
        plan_lookups.next(
            sfn.Choice(self, "AnythingToLookUp?")
            .when(sfn.Condition.number_equals("$.lookups.tenders", 0), after)
            .otherwise(wait_for_portal)
        )
        look_up_tenders.next(store_lookups).next(after)
        return plan_lookups, [plan_lookups, look_up_tenders, store_lookups]

    def _announce_changes(self, after: sfn.IChainable) -> tasks.LambdaInvoke:
        """PrepareChanges -> AnythingToAnnounce? -> PublishChanges -> RecordPublished -> `after`: the window's
        change event, and any an earlier run could not send, put on the bus (tender_sync.changes). The window is
        stored by now: a failure here is caught and the run goes on to `after`, its events left for a later run."""
        prepare_changes = self._invoke(
            "PrepareChanges",
            self.functions.prepare_changes,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job")}),
            result_path="$.changes",
        )
        # EventBridge's own integration (PutEvents, no Lambda), with entries PrepareChanges wrote: as many as
        # there are unsent events, which CDK's EventBridgePutEvents (a fixed list) cannot take.
        publish_changes = sfn.CustomState(
            self,
            "PublishChanges",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{Aws.PARTITION}:states:::events:putEvents",
                "Parameters": {"Entries.$": "$.changes.entries"},
                "ResultPath": "$.published",
            },
        )
        publish_changes.add_retry(
            errors=[sfn.Errors.ALL],
            interval=Duration.seconds(1),
            backoff_rate=2,
            max_attempts=3,
            jitter_strategy=sfn.JitterType.FULL,
        )
        record_published = self._invoke("RecordPublished", self.functions.record_published, result_path="$.announced")
        # Success and failure write the same path, so that a backfill's later window never reads an earlier one's.
        publish_changes.add_catch(record_published, errors=[sfn.Errors.ALL], result_path="$.published")
        for step in (prepare_changes, record_published):
            step.add_catch(after, errors=[sfn.Errors.ALL], result_path="$.announceError")
        prepare_changes.next(
            sfn.Choice(self, "AnythingToAnnounce?")
            .when(sfn.Condition.number_equals("$.changes.count", 0), after)
            .otherwise(publish_changes)
        )
        publish_changes.next(record_published).next(after)
        return prepare_changes

    def _catch_all(self, *steps: sfn.TaskStateBase | sfn.DistributedMap) -> None:
        for step in steps:
            step.add_catch(self.fail_job, errors=[sfn.Errors.ALL], result_path="$.error")

    def _state_machine(self, start: sfn.IChainable, timeout: Duration) -> sfn.StateMachine:
        state_machine = sfn.StateMachine(
            self,
            f"{self.name}StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(start),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                # Under /aws/vendedlogs/states/: any other name is added to the account's CloudWatch Logs resource
                # policy, whose 5,120 characters a busy account runs out of.
                destination=logs.LogGroup(
                    self,
                    f"{self.name}StateMachineLogs",
                    log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}/{self.name}",
                    retention=logs.RetentionDays.ONE_MONTH,
                ),
                level=sfn.LogLevel.ERROR,
                include_execution_data=False,
            ),
        )
        if self.announces:
            # PublishChanges: PutEvents on this bus, and no other.
            self.bus.grant_put_events_to(state_machine)
        return state_machine

    def _look_up_tenders(
        self, config: StackConfig, functions: WorkflowFunctions, bucket: s3.IBucket
    ) -> sfn.DistributedMap:
        """One LookUpBatch per batch of tenders; items and results travel through S3, never through the state.
        Each child outputs nothing, so what the Map gathers stays far under 256 KiB at any size."""
        look_up_tenders = sfn.DistributedMap(
            self,
            "LookUpTenders",
            item_reader=sfn.S3JsonItemReader(bucket=bucket, key=sfn.JsonPath.string_at("$.lookups.itemsKey")),
            # Express children: a Standard child pays a state transition per state on top of the one per item
            # (see `make cost`). A batch is a few paced, idempotent lookups, well inside Express's 5 minutes.
            map_execution_type=sfn.StateMachineType.EXPRESS,
            max_concurrency=config.map_max_concurrency,
            # A batch that fails outright is stored as failed by StoreLookups (its result is missing): the run
            # goes on, on AWS as locally.
            tolerated_failure_percentage=100,
            item_selector={
                "item": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                "bucket": sfn.JsonPath.string_at("$.lookups.bucket"),
                "resultsPrefix": sfn.JsonPath.string_at("$.lookups.resultsPrefix"),
                "secondsBetweenLookups": config.seconds_between_lookups,
                "notAfter": sfn.JsonPath.string_at("$.lookups.notAfter"),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        # Its output is its result ({}), not its input: what the Map gathers.
        look_up_batch = self._invoke("LookUpBatch", functions.look_up_batch, result_path="$")
        # A batch that still fails after its retries does not fail the run: the same function, given the batch
        # and the error, writes each of its tenders as failed with that error, for StoreLookups to store.
        record_failure = self._invoke("RecordLookupFailure", functions.look_up_batch, result_path="$")
        look_up_batch.add_catch(record_failure, errors=[sfn.Errors.ALL], result_path="$.error")
        look_up_tenders.item_processor(look_up_batch)
        return look_up_tenders

    def _invoke(
        self, state_name: str, function: lambda_.IFunction, payload: sfn.TaskInput | None = None, *, result_path: str
    ) -> tasks.LambdaInvoke:
        """A Lambda task with our one Retry. Without a payload the function gets the whole state.

        (TaskInput.from_json_path_at("$") would render `"Parameters": "$"` here, which is not valid ASL.)
        """
        if function not in self.invoked_functions:
            self.invoked_functions.append(function)
        task = tasks.LambdaInvoke(
            self,
            state_name,
            lambda_function=function,
            payload=payload,
            payload_response_only=True,
            # The only Retry is ours, below.
            retry_on_service_exceptions=False,
            result_path=result_path,
        )
        task.add_retry(
            errors=RETRIED_ERRORS,
            interval=Duration.seconds(2),
            backoff_rate=2,
            max_attempts=3,
            max_delay=Duration.seconds(30),
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task
