"""The checks AWS engineers run on a template: cdk-nag (AwsSolutions), cfn-lint and asl-validator.

Each runs on the stack as cdk.json configures it and with every option set (CONTEXTS, tests/helpers/stack.py)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from tender_sync.workflows import SYNC
from tests.helpers.stack import CONTEXTS, Synthesis, rendered_definitions

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# cfn-lint warnings we accept, with the reason. Errors are never accepted.
ACCEPTED_CFN_LINT_WARNINGS = {
    # CDK gives a function an explicit DependsOn on its role (so the role's policy exists before the
    # function), which its GetAtt of the role's ARN already implies for the role itself.
    "W3005",
}


# cdk-nag


def test_cdk_nag_reports_nothing_unacknowledged(synthesis: Synthesis):
    reports = {report["pluginName"]: report for report in synthesis.report["pluginReports"]}
    assert "AwsSolutions" in reports
    for name, report in reports.items():
        assert report["violations"] == [], name
        assert report["conclusion"] == "success", name


def test_the_checks_see_the_stack_with_and_without_the_changes_queue(synthesis: Synthesis):
    """Every check here runs on both templates: the changes queue, its dead-letter queue and their rule are in the
    every-option one only."""
    assert {name: context.get("changesQueue", False) for name, context in CONTEXTS.items()} == {
        "defaults": False,
        "every-option": True,
    }
    kinds = [resource["Type"] for resource in synthesis.template["Resources"].values()]
    with_queue = synthesis.context.get("changesQueue", False)
    # The app's events' queue, its two dead-letter queues and their rule are always there (test_app_events.py);
    # so are the rule of failed executions, on the default bus, and the alert processing's two rules (one starting
    # its runs, one taking SES's feedback) and its dead-letter queue.
    assert kinds.count("AWS::SQS::Queue") == (6 if with_queue else 4)
    assert kinds.count("AWS::SQS::QueuePolicy") == (6 if with_queue else 4)
    assert kinds.count("AWS::Events::Rule") == (5 if with_queue else 4)


def test_every_acknowledgment_has_a_reason_and_matches_a_finding(synthesis: Synthesis):
    suppressed = {
        (violation["acknowledgedAt"], violation["acknowledgedId"]): violation["reason"]
        for report in synthesis.report["pluginReports"]
        for violation in report.get("suppressedViolations", [])
    }
    assert suppressed
    for (path, rule), reason in suppressed.items():
        assert len(reason.split()) >= 8, f"{path} {rule}: the reason says too little: {reason!r}"
    # No acknowledgment stands without a finding, so none hides a future one.
    assert set(synthesis.acknowledgments) == set(suppressed)


def test_a_new_finding_fails_synthesis():
    from aws_cdk import App
    from aws_cdk import aws_s3 as s3

    from infra.stack import build_stack

    stack = build_stack(checks=True)
    s3.Bucket(stack, "Unreviewed")
    app = stack.node.root
    assert isinstance(app, App)
    with pytest.raises(RuntimeError, match="AwsSolutions-S10"):
        app.synth()


# cfn-lint


def _cfn_lint(template: dict[str, Any]) -> list[Any]:
    return lint(json.dumps(template), config=ManualArgs(regions=["us-east-1", "af-south-1"]))


def _with_rendered_definitions(template: dict[str, Any]) -> dict[str, Any]:
    """cfn-lint checks a state machine's definition only when it is plain JSON, not an Fn::Join."""
    copy = json.loads(json.dumps(template))
    for logical_id, definition in rendered_definitions(template).items():
        copy["Resources"][logical_id]["Properties"]["DefinitionString"] = definition
    return copy


def test_cfn_lint_finds_no_error_in_the_template(synthesis: Synthesis):
    for template in (synthesis.template, _with_rendered_definitions(synthesis.template)):
        matches = _cfn_lint(template)
        errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
        assert errors == []
        unexpected = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in ACCEPTED_CFN_LINT_WARNINGS]
        assert unexpected == []


def test_cfn_lint_does_check_state_machine_definitions(synthesis: Synthesis):
    """The state machine check is live: a broken definition is reported (E3601)."""
    template = _with_rendered_definitions(synthesis.template)
    logical_id = SYNC.state_machine_id(synthesis.template)
    properties = template["Resources"][logical_id]["Properties"]
    definition = json.loads(properties["DefinitionString"])
    definition["States"]["LeaseHeld?"]["Type"] = "Chooser"
    properties["DefinitionString"] = json.dumps(definition)
    assert "E3601" in {m.rule.id for m in _cfn_lint(template)}


# asl-validator


def _asl_validator(tmp_path, definition: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "definition.asl.json"
    path.write_text(definition)
    return subprocess.run(
        [sys.executable, "-m", "local.node_tools", "npx", "--no-install", "asl-validator", "--json-path", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_asl_validator_accepts_every_state_machine_definition(synthesis: Synthesis, tmp_path):
    definitions = rendered_definitions(synthesis.template)
    assert definitions
    for logical_id, definition in definitions.items():
        result = _asl_validator(tmp_path, definition)
        assert result.returncode == 0, f"{logical_id}: {result.stdout}{result.stderr} (npm ci: `make test` installs it)"
        assert "is valid" in result.stdout


def test_asl_validator_rejects_a_broken_definition(synthesis: Synthesis, tmp_path):
    definition = rendered_definitions(synthesis.template)[SYNC.state_machine_id(synthesis.template)]
    broken = json.loads(definition)
    broken["States"]["FetchReleases"]["Next"] = "NoSuchState"
    result = _asl_validator(tmp_path, json.dumps(broken))
    assert result.returncode != 0
    assert "NoSuchState" in result.stdout + result.stderr
