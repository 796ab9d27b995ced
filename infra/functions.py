"""The Lambda functions of every workflow, all from the one code asset, each with only the access and the
environment it uses."""

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.bundling import lambda_code
from infra.config import StackConfig
from tender_sync.settings import (
    AlertSettings,
    ArtifactSettings,
    ChangeSettings,
    EmailSettings,
    JobSettings,
    LookupSettings,
    OwnerSettings,
    SourceSettings,
    SyncSettings,
    environment_names,
)

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Where FinishJob's metrics (EMF) land; infra/monitoring.py reads them from here.
METRICS_NAMESPACE = "TenderSync"
# Run artifacts live under runs/<state machine>/<execution>/ (tender_sync.artifacts.run_prefix).
RUN_ARTIFACTS = "runs/*"
ENRICHMENT_RESULTS = "runs/*/looked-up/*"
CHANGES_OBJECTS = "runs/*/changes/*"
DELIVERY_BATCHES = "runs/*/deliveries/*"
DELIVERY_RESULTS = "runs/*/delivered/*"
# StartRequested's invocations at once: the lowest maximum concurrency an SQS event source takes (AWS's minimum is
# 2). Its single-tender runs still go one at a time (tender_sync.app_events.consumer).
CONSUMERS = 2
# What Lambda needs to attach a function to subnets; these EC2 actions take no resource ARNs.
VPC_NETWORK_INTERFACE_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


class WorkflowFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        bucket: s3.IBucket,
        database_secret: secretsmanager.ISecret,
        owner_secret: secretsmanager.ISecret,
        alerts_key: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self._code = lambda_code(config.architecture)
        self._architecture = config.architecture
        self._network = _Network(self, config) if config.in_vpc else None
        # Each settings group's variables (tender_sync.settings), valued from cdk.json or the stack's resources.
        self._setting_values = {
            **config.settings_environment(),
            "BUCKET_NAME": bucket.bucket_name,
            "DATABASE_OWNER_SECRET_ARN": owner_secret.secret_arn,
        }
        self._common_environment = {
            "POWERTOOLS_SERVICE_NAME": "tender-sync",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        self._database_environment = {"DATABASE_SECRET_ARN": database_secret.secret_arn}
        if config.database_proxy_endpoint:
            self._database_environment["DATABASE_PROXY_ENDPOINT"] = config.database_proxy_endpoint

        # database=True: the only functions that open a database connection; the fan-out (LookUpBatch) never does.
        # settings: the groups its handler reads (tender_sync.settings), and so the environment it gets.
        self.start_job = self._function(
            "StartJob",
            "start_job",
            memory_mb=256,
            timeout=Duration.minutes(1),
            database=True,
            settings=[SyncSettings],
        )
        self.fetch_releases = self._function(
            "FetchReleases",
            "fetch_releases",
            memory_mb=1024,
            timeout=Duration.minutes(10),
            settings=[SourceSettings, ArtifactSettings],
        )
        # 30 s: an Express child (this batch with its Step Functions retries, then the failure record, each up to
        # 4 attempts) must end within 5 minutes. A batch paces its lookups within its time left; the tenders it
        # does not reach stay due for the next run.
        self.look_up_batch = self._function(
            "LookUpBatch", "look_up_batch", memory_mb=128, timeout=Duration.seconds(30), settings=[SourceSettings]
        )
        self.plan_lookups = self._function(
            "PlanLookups",
            "plan_lookups",
            memory_mb=256,
            timeout=Duration.minutes(1),
            database=True,
            settings=[LookupSettings, ArtifactSettings, JobSettings],
        )
        self.store_lookups = self._function(
            "StoreLookups",
            "store_lookups",
            memory_mb=512,
            timeout=Duration.minutes(5),
            database=True,
            settings=[LookupSettings, JobSettings],
        )
        self.prepare_changes = self._function(
            "PrepareChanges",
            "prepare_changes",
            memory_mb=256,
            timeout=Duration.minutes(2),
            database=True,
            settings=[JobSettings, ArtifactSettings, ChangeSettings],
        )
        self.record_published = self._function(
            "RecordPublished", "record_published", memory_mb=128, timeout=Duration.seconds(30), database=True
        )
        self.upsert_tenders = self._function(
            "UpsertTenders",
            "upsert_tenders",
            memory_mb=1024,
            timeout=Duration.minutes(10),
            database=True,
            settings=[SyncSettings],
        )
        self.finish_job = self._function(
            "FinishJob", "finish_job", memory_mb=256, timeout=Duration.minutes(1), database=True, settings=[JobSettings]
        )
        self.fail_job = self._function(
            "FailJob", "fail_job", memory_mb=256, timeout=Duration.minutes(1), database=True, settings=[JobSettings]
        )
        # The other workflows' own steps (infra/operations.py).
        self.start_enrich_today = self._function(
            "StartEnrichToday",
            "start_enrich_today",
            memory_mb=256,
            timeout=Duration.minutes(1),
            database=True,
            settings=[SyncSettings],
        )
        self.start_backfill = self._function(
            "StartBackfill",
            "start_backfill",
            memory_mb=256,
            timeout=Duration.minutes(1),
            database=True,
            settings=[SyncSettings],
        )
        self.next_window = self._function("NextWindow", "next_window", memory_mb=128, timeout=Duration.seconds(30))
        self.start_single_tender = self._function(
            "StartSingleTender",
            "start_single_tender",
            memory_mb=256,
            timeout=Duration.minutes(1),
            database=True,
            settings=[SyncSettings],
        )
        # Up to MAX_OCIDS releases, FETCH_CONCURRENCY at a time (tender_sync.runs.single_tender): 10 minutes holds
        # them at up to 4.8 s a request, and leaves the lookups of a capped run within its 15 minutes.
        self.fetch_release = self._function(
            "FetchRelease",
            "fetch_release",
            memory_mb=256,
            timeout=Duration.minutes(10),
            settings=[SourceSettings, ArtifactSettings],
        )
        self.clean_up_jobs = self._function(
            "CleanupJobs",
            "clean_up_jobs",
            memory_mb=256,
            timeout=Duration.minutes(5),
            database=True,
            settings=[SyncSettings],
        )
        # The app's events (infra/app_events.py): it starts the workflows they name, and waits for each single-tender
        # run it starts (a capped batch's fits the longest timeout Lambda allows) before it takes the next batch.
        # Reserved concurrency as large as its event source's lowest maximum concurrency (CONSUMERS), so that the
        # event source is never throttled (a throttled batch goes back to the queue, towards its dead-letter queue).
        self.start_requested = self._function(
            "StartRequested",
            "start_requested",
            memory_mb=256,
            timeout=Duration.minutes(15),
            database=True,
            settings=[SyncSettings],
            reserved_concurrency=CONSUMERS,
        )

        # The schema's migrations, at deploy (infra/migrations.py): as the owner, never through the RDS Proxy.
        self.migrate_schema = self._function(
            "MigrateSchema",
            "migrate_schema",
            memory_mb=256,
            timeout=Duration.minutes(5),
            database=True,
            owner=True,
            settings=[OwnerSettings],
        )
        self.migrate_schema.add_to_role_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[owner_secret.secret_arn])
        )

        # Alerts (infra/alerts.py). The unsubscribe endpoint first: the emails carry its URL.
        self.unsubscribe = self._function(
            "Unsubscribe", "unsubscribe", memory_mb=256, timeout=Duration.seconds(15), database=True
        )
        self.unsubscribe_url = self.unsubscribe.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        self._setting_values["UNSUBSCRIBE_URL"] = self.unsubscribe_url.url
        self.match_alerts = self._function(
            "MatchAlerts",
            "match_alerts",
            memory_mb=512,
            timeout=Duration.minutes(2),
            database=True,
            settings=[AlertSettings, ArtifactSettings],
        )
        # 30 s, as LookUpBatch: an Express child (this batch with its retries, then the failure record, each up to
        # 4 attempts) must end within 5 minutes. A batch starts no delivery its time left would not hold
        # (tender_sync.alerts.sending); those it leaves are tried again by a later run.
        self.deliver_batch = self._function(
            "DeliverBatch", "deliver_batch", memory_mb=256, timeout=Duration.seconds(30), settings=[EmailSettings]
        )
        self.record_deliveries = self._function(
            "RecordDeliveries", "record_deliveries", memory_mb=256, timeout=Duration.minutes(2), database=True
        )
        self.fail_alerts = self._function(
            "FailAlerts", "fail_alerts", memory_mb=128, timeout=Duration.seconds(30), database=True
        )
        self.email_feedback = self._function(
            "EmailFeedback", "email_feedback", memory_mb=128, timeout=Duration.seconds(30), database=True
        )
        # The key that opens the webhooks' signing secrets and signs the unsubscribe links: read, never described.
        for function in (self.deliver_batch, self.unsubscribe):
            function.add_environment("ALERTS_KEY_SECRET_ARN", alerts_key.secret_arn)
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[alerts_key.secret_arn])
            )

        # S3: each function reaches only the run artifacts it reads or writes.
        # FetchReleases and FetchRelease stream tenders.jsonl and quarantine.jsonl (multipart).
        for function in self.staging_functions:
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                    resources=[bucket.arn_for_objects(RUN_ARTIFACTS)],
                )
            )
        # PlanLookups writes the Map's items (lookups.json).
        self.plan_lookups.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(RUN_ARTIFACTS)])
        )
        # PrepareChanges writes each event's changes object, nothing else.
        self.prepare_changes.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[bucket.arn_for_objects(CHANGES_OBJECTS)]
            )
        )
        # LookUpBatch writes its batch's one result object, nothing else.
        self.look_up_batch.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(ENRICHMENT_RESULTS)])
        )
        # MatchAlerts writes the alerts Map's items; DeliverBatch its batch's one result object; RecordDeliveries
        # reads the results.
        self.match_alerts.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(RUN_ARTIFACTS)])
        )
        self.deliver_batch.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(DELIVERY_BATCHES)])
        )
        self.deliver_batch.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(DELIVERY_RESULTS)])
        )
        # UpsertTenders reads the run's tenders and quarantine; StoreLookups its items and results, and lists them.
        for function in (self.upsert_tenders, self.store_lookups, self.record_deliveries):
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(RUN_ARTIFACTS)])
            )
        # StoreLookups lists the batches' results. UpsertTenders lists nothing, but without s3:ListBucket S3 answers
        # a missing object (expired before a late redrive) with AccessDenied instead of NoSuchKey.
        for function in (self.upsert_tenders, self.store_lookups, self.record_deliveries):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [RUN_ARTIFACTS]}},
                )
            )
        for function in self.database_functions:
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[database_secret.secret_arn])
            )
        # A secret under a customer managed key: its readers decrypt with it, through Secrets Manager only.
        if config.database_secret_kms_key_arn:
            for function in self.secret_readers:
                function.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["kms:Decrypt"],
                        resources=[config.database_secret_kms_key_arn],
                        conditions={
                            "StringEquals": {"kms:ViaService": f"secretsmanager.{Stack.of(self).region}.amazonaws.com"}
                        },
                    )
                )

    @property
    def all(self) -> list[lambda_.Function]:
        return [
            self.start_job,
            self.fetch_releases,
            self.upsert_tenders,
            self.plan_lookups,
            self.look_up_batch,
            self.store_lookups,
            self.prepare_changes,
            self.record_published,
            self.finish_job,
            self.fail_job,
            self.start_enrich_today,
            self.start_backfill,
            self.next_window,
            self.start_single_tender,
            self.fetch_release,
            self.clean_up_jobs,
            self.start_requested,
            self.migrate_schema,
            self.unsubscribe,
            self.match_alerts,
            self.deliver_batch,
            self.record_deliveries,
            self.fail_alerts,
            self.email_feedback,
        ]

    @property
    def database_functions(self) -> list[lambda_.Function]:
        return [
            self.start_job,
            self.upsert_tenders,
            self.plan_lookups,
            self.store_lookups,
            self.prepare_changes,
            self.record_published,
            self.finish_job,
            self.fail_job,
            self.start_enrich_today,
            self.start_backfill,
            self.start_single_tender,
            self.clean_up_jobs,
            self.start_requested,
            self.unsubscribe,
            self.match_alerts,
            self.record_deliveries,
            self.fail_alerts,
            self.email_feedback,
        ]

    @property
    def secret_readers(self) -> list[lambda_.Function]:
        """The functions that read a database secret: the functions' own, or (MigrateSchema) the owner's."""
        return [*self.database_functions, self.migrate_schema]

    @property
    def staging_functions(self) -> list[lambda_.Function]:
        """The functions that stage a run's tenders in S3."""
        return [self.fetch_releases, self.fetch_release]

    def allow_checking_executions(self, state_machines: list[sfn.StateMachine]) -> None:
        """CleanupJobs asks Step Functions about the executions of these state machines, and no others."""
        stack = Stack.of(self)
        self.clean_up_jobs.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{state_machine.state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for state_machine in state_machines
                ],
            )
        )

    def _environment(self, settings: Sequence[type], database: bool) -> dict[str, str]:
        names = [name for group in settings for name in environment_names(group)]
        return {
            **self._common_environment,
            **(self._database_environment if database else {}),
            **{name: self._setting_values[name] for name in names},
        }

    @property
    def network_policies(self) -> list[iam.Policy]:
        return self._network.policies if self._network else []

    def _function(
        self,
        construct_id: str,
        module: str,
        *,
        memory_mb: int,
        timeout: Duration,
        database: bool = False,
        owner: bool = False,
        settings: Sequence[type] = (),
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        """database: it connects to the database (in the VPC, when there is one), with the functions' secret, or
        with `owner` the owner's (named by its settings). reserved_concurrency: at most this many at once."""
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=LOG_RETENTION)
        # Our own role instead of Lambda's managed one: it may write to this function's log group only.
        role = iam.Role(self, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            construct_id,
            code=self._code,
            handler=f"tender_sync.handlers.{module}.handler",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=self._architecture,
            memory_size=memory_mb,
            timeout=timeout,
            environment=self._environment(settings, database and not owner),
            log_group=log_group,
            role=role,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
        )
        if database and self._network:
            self._network.place(function, role)
        return function


class _Network(Construct):
    """The existing subnets and security group named in context: nothing is created or looked up.

    Set on the function as its VpcConfig directly: CDK's `vpc` prop wants a VPC object, which without a
    lookup (AWS credentials at synth) it cannot describe."""

    def __init__(self, scope: Construct, config: StackConfig) -> None:
        super().__init__(scope, "Network")
        self.subnet_ids = list(config.subnet_ids)
        self.security_group_id = config.security_group_id
        self.policies: list[iam.Policy] = []

    def place(self, function: lambda_.Function, role: iam.Role) -> None:
        resource = function.node.default_child
        assert isinstance(resource, lambda_.CfnFunction)
        resource.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
            subnet_ids=self.subnet_ids, security_group_ids=[self.security_group_id]
        )
        # A policy of its own, acknowledged on its own; Lambda checks it when it creates the function.
        policy = iam.Policy(
            self,
            f"{function.node.id}NetworkInterfaces",
            roles=[role],
            statements=[iam.PolicyStatement(actions=VPC_NETWORK_INTERFACE_ACTIONS, resources=["*"])],
        )
        function.node.add_dependency(policy)
        self.policies.append(policy)
