"""What the functions do when AWS is not as they expect: an artifact expired before a late redrive, a service with
no route to it (a VPC without an endpoint), and a database secret that holds no URL yet."""

import time

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ConnectTimeoutError
from moto import mock_aws

from local.engine import stack
from tender_sync import aws
from tender_sync.errors import ArtifactMissing, ServiceUnreachable
from tender_sync.handlers.observability import step
from tender_sync.models.steps import JobEvent
from tender_sync.storage.artifacts import get_json, read_json_lines
from tender_sync.storage.database import NOT_CONFIGURED

REGION = "us-east-1"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:SyncStateMachine:run-1"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="artifacts")
        yield client


def test_an_expired_artifact_is_named_with_what_to_do(s3):
    with pytest.raises(
        ArtifactMissing, match=r"s3://artifacts/runs/Sync/run-1/lookups.json is gone: .*start a new run"
    ):
        get_json("artifacts", "runs/Sync/run-1/lookups.json", s3)
    with pytest.raises(ArtifactMissing, match="tenders.jsonl is gone"):
        list(read_json_lines("artifacts", "runs/Sync/run-1/tenders.jsonl", s3))


def test_a_service_with_no_route_fails_in_seconds_naming_its_endpoint():
    """A closed port stands for an endpoint the subnet cannot reach: the call fails at once, as one line."""
    unreachable = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=aws.CLIENT_CONFIG,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )

    @step(JobEvent)
    def handler(event: JobEvent, context: LambdaContext) -> dict[str, object]:
        unreachable.list_buckets()
        return {}

    started = time.monotonic()
    with pytest.raises(ServiceUnreachable) as raised:
        handler({"job": {"workflow": "sync", "jobId": 1, "executionId": EXECUTION}}, stack.LambdaContext("Step"))
    assert time.monotonic() - started < 20
    assert str(raised.value).startswith("could not connect to http://127.0.0.1:9/ within 3 s")
    assert "vpcEndpoints" in str(raised.value)


def test_a_connect_timeout_names_the_endpoint_and_what_to_add():
    error = aws.unreachable(ConnectTimeoutError(endpoint_url="https://states.eu-west-1.amazonaws.com/"))
    assert str(error) == (
        "could not connect to https://states.eu-west-1.amazonaws.com/ within 3 s: a function in a VPC needs an "
        "endpoint for that service (vpcEndpoints: true) or a route through a NAT"
    )


def test_a_scheduled_sync_before_the_database_is_set_ends_at_its_first_step(monkeypatch):
    """The generated secret holds a random string until the operator sets the URL: the run is skipped, saying so,
    and touches no database."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="tender-sync-db", SecretString="Xr8#generated-placeholder"
        )
        monkeypatch.setenv("DATABASE_SECRET_ARN", secret["ARN"])
        aws.client.cache_clear()
        aws._secrets.cache_clear()
        from tender_sync.handlers.start_job import handler

        job = handler({"input": {"triggeredBy": "schedule"}, "executionId": EXECUTION}, stack.LambdaContext("StartJob"))
    aws._secrets.cache_clear()
    assert job["skipped"] is True and job["jobId"] is None
    assert job["reason"] == NOT_CONFIGURED
    assert "not configured" in NOT_CONFIGURED


def test_a_secrets_manager_with_no_route_is_named_too(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    aws._secrets.cache_clear()
    try:
        with pytest.raises(ServiceUnreachable, match=r"^could not connect to http://127.0.0.1:9/ within 3 s"):
            aws.secret_string("arn:aws:secretsmanager:us-east-1:123456789012:secret:tender-sync-db")
    finally:
        aws._secrets.cache_clear()
