"""The sync state machine: StartJob -> FetchReleases -> EnrichTenders (Distributed Map) -> UpsertTenders -> FinishJob."""
from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config import SyncConfig
from infra.functions import SyncFunctions

# Error names are the Lambda errorType: our transient exception classes (tender_sync.errors) and Lambda's own.
TRANSIENT_ERRORS = [
    "SourceUnavailable",
    "DatabaseUnavailable",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


class SyncWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SyncConfig,
        functions: SyncFunctions,
        bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)

        start_job = self._invoke(
            "StartJob",
            functions.start_job,
            sfn.TaskInput.from_object({"input": sfn.JsonPath.entire_payload, "executionId": sfn.JsonPath.execution_id}),
            result_path="$.job",
        )
        fetch_releases = self._invoke(
            "FetchReleases",
            functions.fetch_releases,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job")}),
            result_path="$.fetch",
        )
        enrich_tenders = self._enrich_tenders(config, functions, bucket)
        upsert_tenders = self._invoke(
            "UpsertTenders",
            functions.upsert_tenders,
            sfn.TaskInput.from_object({"job": sfn.JsonPath.object_at("$.job"), "fetch": sfn.JsonPath.object_at("$.fetch")}),
            result_path="$.upsert",
        )
        finish_job = self._invoke("FinishJob", functions.finish_job, result_path="$.finish")
        fail_job = self._invoke(
            "FailJob",
            functions.fail_job,
            # The state may not hold a job yet (StartJob itself failed), so the execution id comes along.
            sfn.TaskInput.from_object({"state": sfn.JsonPath.entire_payload, "executionId": sfn.JsonPath.execution_id}),
            result_path="$.failJob",
        )

        fail_job.next(sfn.Fail(self, "SyncFailed", error="SyncFailed", cause_path="$.failJob.error"))
        for step in (start_job, fetch_releases, enrich_tenders, upsert_tenders, finish_job):
            step.add_catch(fail_job, errors=[sfn.Errors.ALL], result_path="$.error")

        finish_job.next(sfn.Succeed(self, "SyncSucceeded"))
        enrich_tenders.next(upsert_tenders).next(finish_job)
        anything_new = (
            sfn.Choice(self, "AnythingNew?")
            .when(sfn.Condition.number_equals("$.fetch.fetched", 0), finish_job)
            .otherwise(enrich_tenders)
        )
        lease_held = (
            sfn.Choice(self, "LeaseHeld?")
            .when(sfn.Condition.boolean_equals("$.job.skipped", True), sfn.Succeed(self, "SkippedAnotherRunActive"))
            .otherwise(fetch_releases.next(anything_new))
        )

        self.state_machine = sfn.StateMachine(
            self,
            "SyncStateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(start_job.next(lease_held)),
            timeout=Duration.hours(1),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(self, "SyncStateMachineLogs", retention=logs.RetentionDays.ONE_MONTH),
                level=sfn.LogLevel.ERROR,
                include_execution_data=False,
            ),
        )

    def _enrich_tenders(self, config: SyncConfig, functions: SyncFunctions, bucket: s3.IBucket) -> sfn.DistributedMap:
        """One EnrichTender per tender; items and results travel through S3, never through the state."""
        enrich_tenders = sfn.DistributedMap(
            self,
            "EnrichTenders",
            item_reader=sfn.S3JsonItemReader(bucket=bucket, key=sfn.JsonPath.string_at("$.fetch.itemsKey")),
            max_concurrency=config.map_max_concurrency,
            item_selector={
                "ocid": sfn.JsonPath.string_at("$$.Map.Item.Value.ocid"),
                "tenderNumber": sfn.JsonPath.string_at("$$.Map.Item.Value.tenderNumber"),
                "bucket": sfn.JsonPath.string_at("$.fetch.bucket"),
                "resultsPrefix": sfn.JsonPath.string_at("$.fetch.resultsPrefix"),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        enrich_tender = self._invoke("EnrichTender", functions.enrich_tender, result_path=sfn.JsonPath.DISCARD)
        # A tender whose enrichment failed has no result object; UpsertTenders stores it marked as failed.
        enrich_tender.add_catch(sfn.Pass(self, "EnrichmentFailed"), errors=[sfn.Errors.ALL])
        enrich_tenders.item_processor(enrich_tender)
        return enrich_tenders

    def _invoke(
        self, state_name: str, function: lambda_.IFunction, payload: sfn.TaskInput | None = None, *, result_path: str
    ) -> tasks.LambdaInvoke:
        """A Lambda task with our one Retry. Without a payload the function gets the whole state.

        (TaskInput.from_json_path_at("$") would render `"Parameters": "$"` here, which is not valid ASL.)
        """
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
            errors=TRANSIENT_ERRORS,
            interval=Duration.seconds(2),
            backoff_rate=2,
            max_attempts=3,
            max_delay=Duration.seconds(30),
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task
