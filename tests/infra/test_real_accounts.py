"""What real accounts need, in the synthesized template: stages that share nothing, vended log groups, a secret
under a customer managed key, artifacts kept as long as redrive, the endpoints of VPC mode, the migrations at
deploy, the not-configured alarm and the dashboard's units."""

import json
from typing import Any

import pytest

from infra.config import REDRIVE_DAYS, StackConfig
from infra.endpoints import INTERFACE_SERVICES
from infra.stack import synth_template
from tender_sync.runs.metrics import DATABASE_NOT_CONFIGURED
from tender_sync.workflows import WORKFLOWS

pytestmark = pytest.mark.slow

VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "securityGroupId": "sg-0123456789abcdef0",
}
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GIVEN_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tender-sync-db-AbCdEf"
# The properties that name a resource in its account and region.
PHYSICAL_NAMES = {"Name", "RegistryName", "LogGroupName", "AlarmName", "DashboardName", "FunctionName", "TopicName"}


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {logical_id: r for logical_id, r in template["Resources"].items() if r["Type"] == kind}


def physical_names(template: dict[str, Any]) -> set[str]:
    return {
        value
        for resource in template["Resources"].values()
        for key, value in resource.get("Properties", {}).items()
        if key in PHYSICAL_NAMES and isinstance(value, str)
    }


def role_statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def function_roles(template: dict[str, Any]) -> dict[str, str]:
    """Each of our functions' role, by the function's handler module."""
    return {
        function["Properties"]["Handler"].split(".")[-2]: function["Properties"]["Role"]["Fn::GetAtt"][0]
        for function in resources(template, "AWS::Lambda::Function").values()
        if function["Properties"]["Handler"].startswith("tender_sync.")
    }


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return synth_template()


def test_two_stages_share_no_physical_name(default):
    staging = synth_template({"stage": "staging"})
    assert StackConfig.from_values({"stage": "staging"}.get).stack_name == "TenderSync-staging"
    assert physical_names(default) and physical_names(staging)
    assert not physical_names(default) & physical_names(staging)
    (bus,) = resources(staging, "AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == "tender-sync-staging"


@pytest.mark.parametrize("stage", ["Staging", "prod_1", "-x", "a" * 21])
def test_a_stage_that_cannot_name_resources_is_refused(stage):
    with pytest.raises(ValueError, match="'stage'"):
        StackConfig.from_values({"stage": stage}.get)


def test_every_state_machine_logs_to_a_vended_log_group_named_per_stage(default):
    groups = resources(default, "AWS::Logs::LogGroup")
    for machine in resources(default, "AWS::StepFunctions::StateMachine").values():
        (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        assert groups[group_id]["Properties"]["LogGroupName"].startswith("/aws/vendedlogs/states/TenderSync/")
    named = {g["Properties"].get("LogGroupName") for g in groups.values()}
    assert {f"/aws/vendedlogs/states/TenderSync/{w.title}" for w in WORKFLOWS.values()} <= named


def test_a_customer_managed_key_is_granted_to_exactly_the_secret_readers():
    template = synth_template({"databaseSecretArn": GIVEN_SECRET, "databaseSecretKmsKeyArn": KMS_KEY})
    roles = function_roles(template)
    decrypting = {
        handler
        for handler, role in roles.items()
        for statement in role_statements(template, role)
        if statement["Action"] == "kms:Decrypt"
    }
    # The database secrets' readers: the alerts key is the stack's own, under Secrets Manager's key.
    alerts_key = template["Outputs"]["AlertsKeySecretArn"]["Value"]
    reading = {
        handler
        for handler, role in roles.items()
        for statement in role_statements(template, role)
        if statement["Action"] == "secretsmanager:GetSecretValue" and statement["Resource"] != alerts_key
    }
    assert decrypting == reading and "migrate_schema" in reading and "look_up_batch" not in reading
    assert "deliver_batch" not in reading
    (statement,) = [s for s in role_statements(template, roles["start_job"]) if s["Action"] == "kms:Decrypt"]
    assert statement["Resource"] == KMS_KEY
    assert "secretsmanager." in json.dumps(statement["Condition"]["StringEquals"]["kms:ViaService"])
    without_key = synth_template({"databaseSecretArn": GIVEN_SECRET})
    for role in function_roles(without_key).values():
        assert "kms:Decrypt" not in json.dumps(role_statements(without_key, role))


def test_artifacts_outlive_redrive(default):
    (bucket,) = resources(default, "AWS::S3::Bucket").values()
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] >= REDRIVE_DAYS == 14
    with pytest.raises(ValueError, match="'artifactExpiryDays' must be at least 14"):
        StackConfig.from_values({"artifactExpiryDays": 7}.get)


def test_upsert_tenders_may_list_its_artifacts_so_an_expired_one_is_not_found_rather_than_denied(default):
    role = function_roles(default)["upsert_tenders"]
    (listing,) = [s for s in role_statements(default, role) if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["runs/*"]}}


def test_vpc_endpoints_are_created_only_when_asked():
    with_endpoints = synth_template({**VPC, "vpcEndpoints": True, "routeTableIds": ["rtb-0123456789abcdef0"]})
    endpoints = resources(with_endpoints, "AWS::EC2::VPCEndpoint").values()
    by_type: dict[str, list[str]] = {e["Properties"]["VpcEndpointType"]: [] for e in endpoints}
    for endpoint in endpoints:
        service = json.dumps(endpoint["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"]}')
        by_type[endpoint["Properties"]["VpcEndpointType"]].append(service)
    assert by_type == {"Gateway": ["s3"], "Interface": list(INTERFACE_SERVICES)}
    for endpoint in endpoints:
        if endpoint["Properties"]["VpcEndpointType"] == "Interface":
            assert endpoint["Properties"]["PrivateDnsEnabled"] is True
            assert endpoint["Properties"]["SubnetIds"] == VPC["subnetIds"]
    (group,) = resources(with_endpoints, "AWS::EC2::SecurityGroup").values()
    (ingress,) = group["Properties"]["SecurityGroupIngress"]
    assert (ingress["FromPort"], ingress["SourceSecurityGroupId"]) == (443, VPC["securityGroupId"])
    assert not resources(synth_template(VPC), "AWS::EC2::VPCEndpoint")
    with pytest.raises(ValueError, match="'routeTableIds'"):
        StackConfig.from_values({**VPC, "vpcEndpoints": True}.get)


def test_migrations_run_at_deploy_as_the_owner_before_the_state_machines(default):
    (trigger_id,) = resources(default, "Custom::Trigger")
    for machine in resources(default, "AWS::StepFunctions::StateMachine").values():
        assert trigger_id in machine["DependsOn"]
    functions = resources(default, "AWS::Lambda::Function")
    (migrate_id,) = [i for i, f in functions.items() if f["Properties"]["Handler"].endswith("migrate_schema.handler")]
    variables = functions[migrate_id]["Properties"]["Environment"]["Variables"]
    assert "DATABASE_OWNER_SECRET_ARN" in variables and "DATABASE_SECRET_ARN" not in variables
    owner_secret = default["Outputs"]["DatabaseOwnerSecretArn"]["Value"]
    reads = [
        s["Resource"]
        for s in role_statements(default, function_roles(default)["migrate_schema"])
        if s["Action"] == "secretsmanager:GetSecretValue"
    ]
    assert reads == [owner_secret]
    # No other function reads the owner's secret.
    for handler, role in function_roles(default).items():
        if handler != "migrate_schema":
            assert owner_secret not in [s["Resource"] for s in role_statements(default, role)], handler


def test_one_alarm_says_the_database_is_not_configured(default):
    alarms = [
        a for a in resources(default, "AWS::CloudWatch::Alarm").values() if "not configured" in json.dumps(a).lower()
    ]
    (alarm,) = alarms
    (metric,) = alarm["Properties"]["Metrics"]
    assert metric["MetricStat"]["Metric"]["MetricName"] == DATABASE_NOT_CONFIGURED
    assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    assert alarm["Properties"]["AlarmActions"]


def test_the_dashboard_plots_run_durations_in_seconds(default):
    (dashboard,) = resources(default, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    widget_start = body.index("Run duration (s")
    assert "/ 1000" in body[widget_start - 2000 : widget_start + 2000]
