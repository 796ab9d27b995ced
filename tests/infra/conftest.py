from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.stack import build_stack, synth_template
from tests.helpers.recorded_run import RecordedRun, recording_a_run
from tests.helpers.stack import CONTEXTS, OVERRIDES, Synthesis, synthesize


def pytest_configure(config):
    config.addinivalue_line("markers", "bundling: runs pip to bundle the Lambda asset (needs the package index)")


@pytest.fixture(scope="module")
def template() -> Template:
    """The stack with cdk.json's context, Lambda asset not bundled."""
    return Template.from_stack(build_stack())


@pytest.fixture(scope="module")
def template_dict() -> dict[str, Any]:
    """The synthesized template (cdk.json's context) as a dict, as the local runner gets it."""
    return synth_template()


@pytest.fixture(scope="module")
def overrides() -> dict[str, Any]:
    return OVERRIDES


@pytest.fixture(scope="module")
def overridden_template() -> Template:
    """The stack with OVERRIDES on top of cdk.json's context."""
    return Template.from_stack(build_stack(OVERRIDES))


@pytest.fixture(scope="module", params=sorted(CONTEXTS))
def synthesis(request) -> Synthesis:
    """Synthesis fails here on an unacknowledged finding, as `cdk synth` does."""
    return synthesize(CONTEXTS[request.param])


@pytest.fixture(scope="session")
def recorded_run(server_url: str) -> Iterator[RecordedRun]:
    """One whole sync, then one run of each other workflow, recorded (tests/helpers/recorded_run.py)."""
    with recording_a_run(server_url) as run:
        yield run
