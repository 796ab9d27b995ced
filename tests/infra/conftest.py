import pytest
from aws_cdk.assertions import Template

from infra.stack import build_stack

OVERRIDES = {
    "mapMaxConcurrency": 25,
    "databaseSecretArn": "arn:aws:secretsmanager:af-south-1:123456789012:secret:tender-sync/database-AbCdEf",
    "lambdaArchitecture": "x86_64",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "bundling: runs pip to bundle the Lambda asset (needs the package index)")


@pytest.fixture(scope="module")
def template() -> Template:
    """The stack with cdk.json's context, Lambda asset not bundled."""
    return Template.from_stack(build_stack())


@pytest.fixture(scope="module")
def overrides() -> dict:
    return OVERRIDES


@pytest.fixture(scope="module")
def overridden_template() -> Template:
    """The stack with OVERRIDES on top of cdk.json's context."""
    return Template.from_stack(build_stack(OVERRIDES))
