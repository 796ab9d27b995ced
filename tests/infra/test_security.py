"""Security: least-privilege IAM (in the template, and against what a real run does), the database URL only
from Secrets Manager, TLS to the database, the optional VPC and RDS Proxy, and no request beyond the sources."""

import fnmatch
import json
import socket
import struct
import threading
from typing import Any

import psycopg
import pytest
from aws_cdk.assertions import Template

from infra.functions import VPC_NETWORK_INTERFACE_ACTIONS
from local.engine.template import resolve
from tender_sync.errors import DatabaseUnavailable
from tender_sync.storage import database
from tests.helpers.recorded_run import RecordedRun
from tests.helpers.stack import DATABASE_FUNCTIONS, function_ids, our_functions, single_resource

LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
XRAY = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
SECRET = ("secretsmanager:GetSecretValue",)
# The handlers' S3 calls, as IAM names them (multipart calls are authorized by s3:PutObject).
S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "GetObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
}


def _render(value):
    """A template value as text: <Id> for a Ref, <Id.Attr> for a GetAtt, joins joined."""
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return "<" + ".".join(value["Fn::GetAtt"]) + ">"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(_render(part) for part in parts)
    if isinstance(value, list):
        return [_render(item) for item in value]
    return value


def _as_tuple(value) -> tuple[Any, ...]:
    return tuple(sorted(value)) if isinstance(value, list) else (value,)


def _permissions(template: dict[str, Any], role_id: str) -> set[tuple[Any, ...]]:
    """Every (actions, resources, condition) a role's policies grant."""
    granted = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy" or {"Ref": role_id} not in resource["Properties"]["Roles"]:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            granted.add(
                (
                    _as_tuple(statement["Action"]),
                    _as_tuple(_render(statement["Resource"])),
                    json.dumps(statement.get("Condition"), sort_keys=True),
                )
            )
    return granted


def _role_of(template: dict[str, Any], function_id: str) -> str:
    return template["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]


@pytest.fixture(scope="module")
def template_json(template: Template) -> dict[str, Any]:
    return dict(template.to_json())


@pytest.mark.slow
def test_each_function_gets_only_what_it_uses(template: Template, template_json: dict[str, Any]):
    bucket = f"<{single_resource(template_json, 'AWS::S3::Bucket')}.Arn>"
    secret, owner_secret, alerts_key = (
        f"<{template_json['Outputs'][output]['Value']['Ref']}>"
        for output in ("DatabaseSecretArn", "DatabaseOwnerSecretArn", "AlertsKeySecretArn")
    )
    none = "null"
    staging = (("s3:AbortMultipartUpload", "s3:PutObject"), (f"{bucket}/runs/*",), none)
    reads_runs = (("s3:GetObject",), (f"{bucket}/runs/*",), none)
    (app_events_queue,) = [
        logical_id
        for logical_id, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::SQS::Queue" and logical_id.startswith("AppEventsQueue")
    ]
    job_state_machines = [
        template_json["Outputs"][output]["Value"]["Ref"]
        for output in (
            "SyncStateMachineArn",
            "EnrichTodayStateMachineArn",
            "BackfillStateMachineArn",
            "SingleTenderStateMachineArn",
        )
    ]
    expected: dict[str, set[tuple[Any, ...]]] = {
        "StartJob": {(SECRET, (secret,), none)},
        "FetchReleases": {staging},
        # Reads the run's tenders.jsonl and quarantine.jsonl. It lists nothing, but may: S3 then answers an
        # artifact expired before a late redrive with NoSuchKey, not AccessDenied.
        "UpsertTenders": {
            reads_runs,
            (("s3:ListBucket",), (bucket,), json.dumps({"StringLike": {"s3:prefix": ["runs/*"]}})),
            (SECRET, (secret,), none),
        },
        # Writes the Map's items (lookups.json), nothing else.
        "PlanLookups": {(("s3:PutObject",), (f"{bucket}/runs/*",), none), (SECRET, (secret,), none)},
        # Writes its batch's one result; never touches the database.
        "LookUpBatch": {(("s3:PutObject",), (f"{bucket}/runs/*/looked-up/*",), none)},
        # Reads the items and the batches' results, and lists them.
        "StoreLookups": {
            reads_runs,
            (("s3:ListBucket",), (bucket,), json.dumps({"StringLike": {"s3:prefix": ["runs/*"]}})),
            (SECRET, (secret,), none),
        },
        # Writes each event's changes object, nothing else; never reads what a run staged.
        "PrepareChanges": {
            (("s3:AbortMultipartUpload", "s3:PutObject"), (f"{bucket}/runs/*/changes/*",), none),
            (SECRET, (secret,), none),
        },
        # The state machine, not a function, puts the events on the bus (test_change_events.py).
        "RecordPublished": {(SECRET, (secret,), none)},
        "FinishJob": {(SECRET, (secret,), none)},
        "FailJob": {(SECRET, (secret,), none)},
        # Stages nothing any more: PlanLookups chooses today's tenders.
        "StartEnrichToday": {(SECRET, (secret,), none)},
        "StartBackfill": {(SECRET, (secret,), none)},
        "NextWindow": set(),
        "StartSingleTender": {(SECRET, (secret,), none)},
        "FetchRelease": {staging},
        # Only the executions of the state machines that open jobs.
        "CleanupJobs": {
            (SECRET, (secret,), none),
            (
                ("states:DescribeExecution",),
                tuple(
                    sorted(
                        f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<{machine}.Name>:*"
                        for machine in job_state_machines
                    )
                ),
                none,
            ),
        },
        # The migrations at deploy: the owner's secret, and no other.
        "MigrateSchema": {(SECRET, (owner_secret,), none)},
        # The app's events: its queue, the four state machines they start, and their executions
        # (test_app_events.py has the details).
        "StartRequested": {
            (SECRET, (secret,), none),
            (
                (
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                ),
                (f"<{app_events_queue}.Arn>",),
                none,
            ),
            *(((("states:StartExecution",), (f"<{machine}>",), none)) for machine in job_state_machines),
            (
                ("states:DescribeExecution",),
                tuple(
                    sorted(
                        f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<{machine}.Name>:*"
                        for machine in job_state_machines
                    )
                ),
                none,
            ),
        },
        # Alerts (test_alerts_stack.py). The unsubscribe endpoint pauses the subscription its signed link names.
        "Unsubscribe": {(SECRET, (secret,), none), (SECRET, (alerts_key,), none)},
        # Writes the Map's items (deliveries.json) and each batch (deliveries/).
        "MatchAlerts": {(("s3:PutObject",), (f"{bucket}/runs/*",), none), (SECRET, (secret,), none)},
        # Reads its batch, writes its one result; sends from alertFromAddress only, with the alerts' configuration
        # set; never touches the database.
        "DeliverBatch": {
            (("s3:GetObject",), (f"{bucket}/runs/*/deliveries/*",), none),
            (("s3:PutObject",), (f"{bucket}/runs/*/delivered/*",), none),
            (SECRET, (alerts_key,), none),
            (
                ("ses:SendEmail",),
                (
                    "arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:configuration-set/tender-sync-alerts",
                    "arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*",
                ),
                json.dumps({"StringEquals": {"ses:FromAddress": "alerts@example.org"}}),
            ),
        },
        # Reads the items and the batches' results, and lists them.
        "RecordDeliveries": {
            reads_runs,
            (("s3:ListBucket",), (bucket,), json.dumps({"StringLike": {"s3:prefix": ["runs/*"]}})),
            (SECRET, (secret,), none),
        },
        "FailAlerts": {(SECRET, (secret,), none)},
        "EmailFeedback": {(SECRET, (secret,), none)},
    }
    for name, function_id in function_ids(template).items():
        properties = template_json["Resources"][function_id]["Properties"]
        log_group = f"<{properties['LoggingConfig']['LogGroup']['Ref']}.Arn>"
        own_logs_and_traces = {(LOGS, (log_group,), none), (XRAY, ("*",), none)}
        assert (
            _permissions(template_json, _role_of(template_json, function_id)) == expected[name] | own_logs_and_traces
        ), name


@pytest.mark.slow
def test_no_function_role_has_a_managed_policy_or_another_principal(template: Template, template_json: dict[str, Any]):
    for function_id in function_ids(template).values():
        role = template_json["Resources"][_role_of(template_json, function_id)]["Properties"]
        assert "ManagedPolicyArns" not in role
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
        ]


@pytest.mark.slow
def test_a_real_run_needs_every_s3_grant_and_nothing_more(recorded_run: RecordedRun):
    """Each S3 request a handler made in a whole local sync, in the alerts runs after it, and in a run of each other
    workflow, is allowed by its function's role; each S3 action a role is granted was used by its function
    (AbortMultipartUpload only runs on a failure)."""
    template = recorded_run.template
    grants: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {}
    for function_id in (k for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"):
        for resource in template["Resources"].values():
            if (
                resource["Type"] != "AWS::IAM::Policy"
                or {"Ref": _role_of(template, function_id)} not in resource["Properties"]["Roles"]
            ):
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                for action in _as_tuple(statement["Action"]):
                    if action.startswith("s3:"):
                        grants.setdefault(function_id, []).append(
                            (action, resolve(template, statement["Resource"]), statement.get("Condition"))
                        )

    def allowed(function_id: str, action: str, arn: str, prefix: str | None) -> bool:
        for granted, resource, condition in grants.get(function_id, []):
            if granted != action or not fnmatch.fnmatchcase(arn, resource):
                continue
            patterns = (condition or {}).get("StringLike", {}).get("s3:prefix")
            if patterns is None or (prefix is not None and any(fnmatch.fnmatchcase(prefix, p) for p in patterns)):
                return True
        return False

    used = set()
    alerts_calls = [call for run in recorded_run.alerts_runs for call in run.s3_calls]
    assert recorded_run.s3_calls and alerts_calls and recorded_run.other_s3_calls
    for call in recorded_run.s3_calls + alerts_calls + recorded_run.other_s3_calls:
        action = S3_ACTIONS[call.operation]
        bucket, key = call.params["Bucket"], call.params.get("Key")
        arn = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")
        assert allowed(call.function, action, arn, call.params.get("Prefix")), f"{call.function} {call.operation} {arn}"
        used.add((call.function, action))
    granted = {(function_id, action) for function_id, items in grants.items() for action, _, _ in items}
    # Unused on a run that goes well: aborting a multipart upload, and UpsertTenders' listing (which only makes S3
    # answer an expired artifact with NoSuchKey rather than AccessDenied).
    upsert_tenders = function_ids(Template.from_json(template))["UpsertTenders"]
    assert granted - used == {
        (fid, "s3:AbortMultipartUpload") for fid, action in granted if action == "s3:AbortMultipartUpload"
    } | {(upsert_tenders, "s3:ListBucket")}


@pytest.mark.slow
def test_the_database_url_comes_only_from_the_secret(template: Template, overridden_template: Template):
    for current in (template, overridden_template):
        for resource in our_functions(current).values():
            variables = resource["Properties"]["Environment"]["Variables"]
            assert "DATABASE_URL" not in variables
            assert not any("postgres" in json.dumps(value) for value in variables.values())
    database = {function_ids(template)[name] for name in DATABASE_FUNCTIONS}
    for logical_id, resource in our_functions(template).items():
        assert ("DATABASE_SECRET_ARN" in resource["Properties"]["Environment"]["Variables"]) == (logical_id in database)


@pytest.mark.slow
def test_the_database_functions_run_in_the_given_vpc(overridden_template: Template, overrides: dict[str, Any]):
    template_json = dict(overridden_template.to_json())
    ids = function_ids(overridden_template)
    for name, function_id in ids.items():
        function = template_json["Resources"][function_id]
        # MigrateSchema connects to the database too, as the owner.
        if name in DATABASE_FUNCTIONS | {"MigrateSchema"}:
            assert function["Properties"]["VpcConfig"] == {
                "SubnetIds": overrides["subnetIds"],
                "SecurityGroupIds": [overrides["securityGroupId"]],
            }
            # Lambda checks the network interface permissions when it creates the function.
            network_policy = next(policy_id for policy_id in function["DependsOn"] if "NetworkInterfaces" in policy_id)
            statements = template_json["Resources"][network_policy]["Properties"]["PolicyDocument"]["Statement"]
            assert statements == [{"Action": VPC_NETWORK_INTERFACE_ACTIONS, "Effect": "Allow", "Resource": "*"}]
            assert template_json["Resources"][network_policy]["Properties"]["Roles"] == [
                {"Ref": _role_of(template_json, function_id)}
            ]
        else:
            assert "VpcConfig" not in function["Properties"], name
    overridden_template.has_output(
        "DatabaseFunctionsNetwork",
        {
            "Value": f"{overrides['vpcId']}: subnets "
            f"{', '.join(overrides['subnetIds'])}; security group {overrides['securityGroupId']}"
        },
    )


@pytest.mark.slow
def test_no_vpc_unless_given(template_json: dict[str, Any]):
    for resource in template_json["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            assert "VpcConfig" not in resource["Properties"]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"vpcId": "vpc-0a1b2c3d4e5f60718"}, "go together"),
        (
            {"vpcId": "vpc-0a1b2c3d", "subnetIds": "subnet-0a1b2c3d", "securityGroupId": "default"},
            "'securityGroupId' must name ids",
        ),
        ({"vpcId": "vpc-0a1b2c3d", "subnetIds": 7, "securityGroupId": "sg-0a1b2c3d"}, "'subnetIds' must be a list"),
    ],
)
def test_vpc_context_is_checked(context: dict[str, Any], message: str):
    from aws_cdk import App

    from infra.config import StackConfig

    with pytest.raises((TypeError, ValueError), match=message):
        StackConfig.from_context(App(context=context).node)


def test_subnets_can_be_given_on_the_command_line():
    from aws_cdk import App

    from infra.config import StackConfig

    context = {
        "vpcId": "vpc-0a1b2c3d",
        "subnetIds": "subnet-0a1b2c3d, subnet-0a1b2c3e",
        "securityGroupId": "sg-0a1b2c3d",
    }
    assert StackConfig.from_context(App(context=context).node).subnet_ids == ("subnet-0a1b2c3d", "subnet-0a1b2c3e")


@pytest.mark.slow
def test_an_rds_proxy_endpoint_reaches_every_database_function(
    overridden_template: Template, overrides: dict[str, Any]
):
    functions = overridden_template.find_resources("AWS::Lambda::Function")
    for name, logical_id in function_ids(overridden_template).items():
        variables = functions[logical_id]["Properties"]["Environment"]["Variables"]
        expected = overrides["databaseProxyEndpoint"] if name in DATABASE_FUNCTIONS else None
        assert variables.get("DATABASE_PROXY_ENDPOINT") == expected, name


# TLS to the database (tender_sync.storage.database.connection_string)


def test_tls_is_required_unless_the_url_says_otherwise(monkeypatch):
    monkeypatch.delenv("DATABASE_PROXY_ENDPOINT", raising=False)
    options = psycopg.conninfo.conninfo_to_dict
    assert (
        options(database.connection_string("postgresql://sync:pw@database.internal:5432/tenders"))["sslmode"]
        == "require"
    )
    assert (
        options(database.connection_string("postgresql://sync:pw@database.internal/tenders?sslmode=verify-full"))[
            "sslmode"
        ]
        == "verify-full"
    )
    assert (
        options(database.connection_string("postgresql://sync:pw@localhost/tenders?sslmode=disable"))["sslmode"]
        == "disable"
    )


def test_an_rds_proxy_endpoint_replaces_the_urls_host(monkeypatch):
    monkeypatch.setenv("DATABASE_PROXY_ENDPOINT", "sync.proxy-c0ffee.af-south-1.rds.amazonaws.com")
    options = psycopg.conninfo.conninfo_to_dict(
        database.connection_string("postgresql://sync:pw@database.internal:5432/tenders")
    )
    assert options == {
        "user": "sync",
        "password": "pw",
        "dbname": "tenders",
        "port": "5432",
        "host": "sync.proxy-c0ffee.af-south-1.rds.amazonaws.com",
        "sslmode": "require",
    }


def test_a_malformed_url_is_reported_without_repeating_it():
    with pytest.raises(ValueError) as raised:
        database.connection_string("postgresql//sync:s3cret-pw@database.internal/tenders")
    assert "s3cret-pw" not in str(raised.value)


def test_the_local_unix_socket_database_still_connects(database_url: str, monkeypatch):
    """libpq never uses TLS on a Unix socket, so sslmode=require leaves the local server reachable."""
    assert "host=/" in database.connection_string(database_url) or "?host=/" in database_url
    monkeypatch.setenv("DATABASE_URL", database_url)
    with database.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert not conn.info.pgconn.ssl_in_use


class _ServerWithoutTls:
    """A TCP listener answering as a PostgreSQL server without TLS does: 'N' to each encryption request.
    It records the first other message (the startup message, with the user name), if one comes."""

    SSL_REQUEST, GSS_REQUEST = 80877103, 80877104

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.encryption_requests = 0
        self.startup: bytes | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(5)
            while True:
                header = connection.recv(8)
                if len(header) < 8:
                    return
                length, code = struct.unpack("!II", header)
                if length == 8 and code in (self.SSL_REQUEST, self.GSS_REQUEST):
                    self.encryption_requests += 1
                    connection.sendall(b"N")
                    continue
                self.startup = header + connection.recv(length - 8)
                return

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.listener.close()


@pytest.mark.parametrize("sslmode", [None, "disable"])
def test_a_server_without_tls_gets_nothing_unless_the_url_allows_plain_text(monkeypatch, sslmode):
    server = _ServerWithoutTls()
    url = f"postgresql://sync:s3cret-pw@127.0.0.1:{server.port}/tenders" + (f"?sslmode={sslmode}" if sslmode else "")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("DATABASE_PROXY_ENDPOINT", raising=False)
    try:
        with pytest.raises(DatabaseUnavailable) as raised, database.connect():
            pass
    finally:
        server.close()
    assert "s3cret-pw" not in str(raised.value)
    if sslmode is None:
        assert "SSL" in str(raised.value)
        assert server.encryption_requests >= 1
        assert server.startup is None  # not even the user name went out in plain text
    else:
        assert server.startup is not None and b"sync" in server.startup


# The sources only


@pytest.mark.slow
def test_no_url_found_inside_source_data_is_ever_requested(recorded_run: RecordedRun):
    """A whole sync (and a run of each other workflow) whose releases and portal rows name another server in
    every URL (document links among them): the run fetched, stored and looked up, and that server got no request."""
    assert recorded_run.elsewhere_url in recorded_run.listing_body
    assert recorded_run.output["upsert"]["upserted"] > 0
    assert recorded_run.output["lookups"]["tenders"] > 0
    assert recorded_run.output["looked"]["lookups"] == recorded_run.output["lookups"]["tenders"]
    assert recorded_run.output["looked"]["enriched"] > 0
    assert recorded_run.elsewhere_requests == []
