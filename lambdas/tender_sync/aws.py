"""The AWS clients the functions use, each with a connect timeout of a few seconds: a function in a VPC with no
route to a service (no endpoint for it, no NAT) fails in seconds, naming what it could not reach, instead of at its
own timeout after botocore's 60 s connect attempts."""

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

from tender_sync.errors import ServiceUnreachable

CONNECT_TIMEOUT_SECONDS = 3
CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}
)
# What a call that could not connect raises (botocore names the endpoint in both).
UNREACHABLE = (ConnectTimeoutError, EndpointConnectionError)
# How long a secret's value is reused: a changed password is picked up within 5 minutes.
SECRET_MAX_AGE_SECONDS = 300


@cache
def client(service: str) -> Any:
    """One client per service and container: warm invocations reuse it."""
    return boto3.client(service, config=CLIENT_CONFIG)


@cache
def _secrets() -> SecretsProvider:
    return SecretsProvider(boto_config=CLIENT_CONFIG)


def secret_string(secret_arn: str) -> str:
    """The secret's string, cached for SECRET_MAX_AGE_SECONDS; ServiceUnreachable when Secrets Manager cannot be
    reached (Powertools wraps every failure as GetParameterError, the connect error as its context)."""
    try:
        return str(_secrets().get(secret_arn, max_age=SECRET_MAX_AGE_SECONDS))
    except GetParameterError as error:
        if isinstance(error.__context__, UNREACHABLE):
            raise unreachable(error.__context__) from None
        raise


def unreachable(error: ConnectTimeoutError | EndpointConnectionError) -> ServiceUnreachable:
    """The error as one line naming the endpoint and what to add."""
    endpoint = error.kwargs.get("endpoint_url", "an AWS endpoint")
    return ServiceUnreachable(
        f"could not connect to {endpoint} within {CONNECT_TIMEOUT_SECONDS} s: a function in a VPC needs an endpoint "
        "for that service (vpcEndpoints: true) or a route through a NAT"
    )
