"""The six Lambda functions of a sync run, all from the one code asset."""
from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.bundling import lambda_code
from infra.config import SyncConfig

LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class SyncFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SyncConfig,
        bucket: s3.IBucket,
        database_secret: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self._code = lambda_code(config.architecture)
        self._architecture = config.architecture
        self._environment = {
            "BUCKET_NAME": bucket.bucket_name,
            "DATABASE_SECRET_ARN": database_secret.secret_arn,
            "OCDS_BASE_URL": config.ocds_base_url,
            "PORTAL_BASE_URL": config.portal_base_url,
            "SOURCE_NAME": config.source_name,
            "FIRST_RUN_FROM": config.first_run_from,
            "WINDOW_DAYS": str(config.window_days),
            "OVERLAP_DAYS": str(config.overlap_days),
            "LEASE_SECONDS": str(config.lease_seconds),
            "POWERTOOLS_SERVICE_NAME": "tender-sync",
        }

        self.start_job = self._function("StartJob", "start_job", memory_mb=256, timeout=Duration.minutes(1))
        self.fetch_releases = self._function("FetchReleases", "fetch_releases", memory_mb=1024, timeout=Duration.minutes(10))
        self.enrich_tender = self._function("EnrichTender", "enrich_tender", memory_mb=256, timeout=Duration.minutes(1))
        self.upsert_tenders = self._function("UpsertTenders", "upsert_tenders", memory_mb=1024, timeout=Duration.minutes(10))
        self.finish_job = self._function("FinishJob", "finish_job", memory_mb=256, timeout=Duration.minutes(1))
        self.fail_job = self._function("FailJob", "fail_job", memory_mb=256, timeout=Duration.minutes(1))

        for function in self.all:
            bucket.grant_read_write(function)
        # Only these open a database connection; the fan-out (EnrichTender) never does.
        for function in (self.start_job, self.upsert_tenders, self.finish_job, self.fail_job):
            database_secret.grant_read(function)

    @property
    def all(self) -> list[lambda_.Function]:
        return [self.start_job, self.fetch_releases, self.enrich_tender, self.upsert_tenders, self.finish_job, self.fail_job]

    def _function(self, construct_id: str, module: str, *, memory_mb: int, timeout: Duration) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=LOG_RETENTION)
        return lambda_.Function(
            self,
            construct_id,
            code=self._code,
            handler=f"tender_sync.handlers.{module}.handler",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=self._architecture,
            memory_size=memory_mb,
            timeout=timeout,
            environment=self._environment,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
