"""The deployment's settings, read from CDK context (cdk.json, or `cdk synth -c key=value`)."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from aws_cdk import aws_lambda as lambda_
from constructs import Node

from tender_sync.models.inputs import InputDefaults
from tender_sync.settings import SyncSettings, from_mapping

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}

# How long Step Functions lets an execution be redriven.
REDRIVE_DAYS = 14
# The stack's name, with `-<stage>` after it when a stage is given.
STACK_NAME = "TenderSync"
# Smallest acceptable value of each whole-number setting.
MINIMUMS = {
    "map_max_concurrency": 1,
    "max_enrichment": 0,
    "lookup_batch_size": 1,
    "portal_requests_per_second": 1,
    "not_found_recheck_hours": 1,
    "window_days": 1,
    "overlap_days": 0,
    "lease_seconds": 1,
    # Step Functions redrives an execution for 14 days: its artifacts must outlive that.
    "artifact_expiry_days": REDRIVE_DAYS,
    "alert_digest_hour": 0,
    "alert_emails_per_second": 1,
}
# The alerts Map's children at once; each sends emails at its share of alertEmailsPerSecond.
ALERT_DELIVERY_CONCURRENCY = 5


@dataclass(frozen=True)
class StackConfig:
    """Every key of cdk.json's context, which holds their defaults (the README's Configuration table says what
    each means)."""

    # Optional: a stage (staging, prod) names the stack (TenderSync-staging) and every physical name it sets, so that
    # stages share an account and region.
    stage: str
    source_name: str
    ocds_base_url: str
    portal_base_url: str
    schedule_expression: str
    map_max_concurrency: int
    max_enrichment: int
    lookup_batch_size: int
    portal_requests_per_second: int
    not_found_recheck_hours: int
    first_run_from: str
    window_days: int
    overlap_days: int
    lease_seconds: int
    # Empty: the stack creates a secret for the user to fill with the PostgreSQL URL the functions connect with
    # (a user that may only read and write the tables).
    database_secret_arn: str
    # Empty: the stack creates a secret for the schema owner's URL, which only the deploy-time migration reads.
    database_owner_secret_arn: str
    # Optional: the customer managed KMS key the given secrets are encrypted with; their readers may decrypt with it.
    database_secret_kms_key_arn: str
    lambda_architecture: str
    artifact_expiry_days: int
    # Optional: an existing VPC for the functions that reach the database (all three, or none).
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_id: str
    # With a VPC: whether the stack creates the endpoints its functions reach AWS through (no NAT needed), and the
    # subnets' route tables, which the S3 gateway endpoint is added to.
    vpc_endpoints: bool
    route_table_ids: tuple[str, ...]
    # Optional: an RDS Proxy endpoint; the functions connect to it instead of the host in the secret's URL.
    database_proxy_endpoint: str
    cleanup_schedule_expression: str
    # Optional: an email address the alerts topic sends to (it must confirm the subscription first).
    alert_email: str
    # The EventBridge bus the stack creates for the change events, and whether an SQS queue subscribes to them.
    event_bus_name: str
    changes_queue: bool
    # The sources (PutEvents' Source) whose tender/*.requested events on that bus start the workflows they name.
    event_sources: tuple[str, ...]
    # Alert emails: the sender (an SES verified identity), their most per second (SES's sending rate), and the
    # hour (South African time) the daily digests go.
    alert_from_address: str
    alert_emails_per_second: int
    alert_digest_hour: int
    # When alerts runs start on their own, for the digests and the retries due (each change event starts one too).
    alerts_schedule_expression: str
    # The link each alerted tender gets: {ocid} is replaced.
    tender_url_template: str

    @classmethod
    def from_context(cls, node: Node) -> "StackConfig":
        """The context given (cdk.json's, `-c key=value`), each key missing from it as cdk.json has it."""
        return cls.from_values(node.try_get_context)

    @classmethod
    def from_values(cls, given: Callable[[str], object] = lambda key: None) -> "StackConfig":
        """The settings given by context key (None: not given), each key not given as cdk.json has it. Without
        arguments: cdk.json's, for the local tools that check inputs as the functions do."""
        defaults = json.loads(CDK_JSON.read_text())["context"]
        values: dict[str, Any] = {}
        for field in fields(cls):
            key = context_key(field.name)
            value = given(key)
            values[field.name] = _typed(key, defaults[key] if value is None else value, _kind(field.type))
        config = cls(**values)
        config._validate()
        return config

    @property
    def input_defaults(self) -> InputDefaults:
        """What an execution input leaves out, as the functions fill it in (from the same settings)."""
        return InputDefaults.of(from_mapping(SyncSettings, self.settings_environment()))

    def settings_environment(self) -> dict[str, str]:
        """Each setting as the functions' environment names it (tender_sync.settings: the field's name in upper
        case); infra/functions.py gives each function those of the groups it reads."""
        variables = {field.name.upper(): str(getattr(self, field.name)) for field in fields(self)}
        return {
            **variables,
            "EVENT_BUS_NAME": self.bus_name,
            "ALERT_CONFIGURATION_SET": self.alert_configuration_set,
        }

    @property
    def alert_configuration_set(self) -> str:
        """SES's configuration set the alert emails go out with: their bounces and complaints pause subscriptions."""
        return self.staged("tender-sync-alerts")

    @property
    def seconds_between_emails(self) -> float:
        """Each of the alerts Map's children sends an email at most this often, so that together they stay within
        alertEmailsPerSecond."""
        return ALERT_DELIVERY_CONCURRENCY / self.alert_emails_per_second

    @property
    def seconds_between_lookups(self) -> float:
        """Each of the Map's children starts a lookup at most this often, so that together they stay within
        portalRequestsPerSecond."""
        return self.map_max_concurrency / self.portal_requests_per_second

    @property
    def stack_name(self) -> str:
        return self.staged(STACK_NAME)

    @property
    def bus_name(self) -> str:
        """The change events' bus, and its schema registry."""
        return self.staged(self.event_bus_name)

    def staged(self, name: str) -> str:
        """A physical name, with the stage after it when there is one."""
        return f"{name}-{self.stage}" if self.stage else name

    @property
    def architecture(self) -> lambda_.Architecture:
        return ARCHITECTURES[self.lambda_architecture]

    @property
    def in_vpc(self) -> bool:
        return bool(self.vpc_id)

    def _validate(self) -> None:
        for name, minimum in MINIMUMS.items():
            if getattr(self, name) < minimum:
                raise ValueError(f"context {context_key(name)!r} must be at least {minimum}, got {getattr(self, name)}")
        if self.stage and not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", self.stage):
            raise ValueError(
                f"context 'stage' must be lowercase letters, digits and hyphens (at most 20, a letter first), got {self.stage!r}"
            )
        if self.database_secret_kms_key_arn and not re.fullmatch(
            r"arn:aws[\w-]*:kms:[\w-]+:\d{12}:key/[\w-]+", self.database_secret_kms_key_arn
        ):
            raise ValueError(
                f"context 'databaseSecretKmsKeyArn' must be a KMS key ARN, got {self.database_secret_kms_key_arn!r}"
            )
        if self.overlap_days >= self.window_days:
            raise ValueError("context 'overlapDays' must be smaller than 'windowDays', or the cursor never advances")
        if self.lambda_architecture not in ARCHITECTURES:
            raise ValueError(
                f"context 'lambdaArchitecture' must be one of {sorted(ARCHITECTURES)}, got {self.lambda_architecture!r}"
            )
        try:
            date.fromisoformat(self.first_run_from)
        except ValueError:
            raise ValueError(
                f"context 'firstRunFrom' must be a date like 2025-09-01, got {self.first_run_from!r}"
            ) from None
        for name in (
            "source_name",
            "ocds_base_url",
            "portal_base_url",
            "schedule_expression",
            "cleanup_schedule_expression",
        ):
            if not getattr(self, name):
                raise ValueError(f"context {context_key(name)!r} must not be empty")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,256}", self.event_bus_name) or self.event_bus_name == "default":
            raise ValueError(
                f"context 'eventBusName' must be a bus name of letters, digits, '.', '-' and '_' (not 'default'), "
                f"got {self.event_bus_name!r}"
            )
        if self.alert_email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.alert_email):
            raise ValueError(f"context 'alertEmail' must be an email address or empty, got {self.alert_email!r}")
        self._validate_event_sources()
        self._validate_vpc()
        self._validate_alerts()

    def _validate_alerts(self) -> None:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.alert_from_address):
            raise ValueError(f"context 'alertFromAddress' must be an email address, got {self.alert_from_address!r}")
        if self.alert_digest_hour > 23:
            raise ValueError(f"context 'alertDigestHour' must be an hour from 0 to 23, got {self.alert_digest_hour}")
        if not self.alerts_schedule_expression:
            raise ValueError("context 'alertsScheduleExpression' must not be empty")
        if not self.tender_url_template.startswith("https://") or "{ocid}" not in self.tender_url_template:
            raise ValueError(
                "context 'tenderUrlTemplate' must be an https:// URL with {ocid} in it, e.g. "
                f"https://app.example.org/tenders/{{ocid}}, got {self.tender_url_template!r}"
            )
        try:
            self.tender_url_template.format(ocid="ocds-x")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"context 'tenderUrlTemplate' may hold no braces but {{ocid}}, got {self.tender_url_template!r}"
            ) from None

    def _validate_event_sources(self) -> None:
        """At least one source, each one an app may put events with: 1 to 256 printable characters, no spaces, and
        not AWS's own (EventBridge refuses a PutEvents Source starting with aws.)."""
        if not self.event_sources:
            raise ValueError("context 'eventSources' must list at least one event source, e.g. [\"tender-app\"]")
        for source in self.event_sources:
            if not re.fullmatch(r"[\x21-\x7e]{1,256}", source) or source.startswith("aws."):
                raise ValueError(
                    "context 'eventSources' must list sources of 1 to 256 printable characters without spaces, none "
                    f"starting with 'aws.' (AWS's own), got {source!r}"
                )

    def _validate_vpc(self) -> None:
        given = {
            "vpcId": bool(self.vpc_id),
            "subnetIds": bool(self.subnet_ids),
            "securityGroupId": bool(self.security_group_id),
        }
        if any(given.values()) and not all(given.values()):
            missing = sorted(key for key, value in given.items() if not value)
            raise ValueError(f"context 'vpcId', 'subnetIds' and 'securityGroupId' go together; missing {missing}")
        if self.vpc_endpoints and not (self.vpc_id and self.route_table_ids):
            raise ValueError(
                "context 'vpcEndpoints' needs 'vpcId' (with its subnets and security group) and 'routeTableIds' "
                "(the subnets' route tables, for the S3 gateway endpoint)"
            )
        for key, values, prefix in (
            ("vpcId", [self.vpc_id] if self.vpc_id else [], "vpc"),
            ("subnetIds", list(self.subnet_ids), "subnet"),
            ("securityGroupId", [self.security_group_id] if self.security_group_id else [], "sg"),
            ("routeTableIds", list(self.route_table_ids), "rtb"),
        ):
            for value in values:
                if not re.fullmatch(prefix + r"-[0-9a-f]{8,17}", value):
                    raise ValueError(f"context {key!r} must name ids like {prefix}-0123456789abcdef0, got {value!r}")


def _kind(annotation: Any) -> Any:
    """The plain type a field's annotation names: tuple for tuple[str, ...]."""
    return getattr(annotation, "__origin__", annotation)


def context_key(field_name: str) -> str:
    """source_name -> sourceName."""
    first, *rest = field_name.split("_")
    return first + "".join(part.title() for part in rest)


def _typed(key: str, value: object, expected: type) -> object:
    if expected is tuple:
        # A JSON list in cdk.json, or "subnet-a,subnet-b" from `cdk synth -c subnetIds=...`.
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise TypeError(f"context {key!r} must be a list of strings, got {value!r}")
        return tuple(item.strip() for item in items if item.strip())
    if expected is bool:
        # `cdk synth -c changesQueue=true` passes it as a string.
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, bool):
            return value
        raise TypeError(f"context {key!r} must be true or false, got {value!r}")
    if expected is int:
        # `cdk synth -c windowDays=3` passes numbers as strings.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(f"context {key!r} must be a whole number, got {value!r}")
    if not isinstance(value, expected):
        raise TypeError(f"context {key!r} must be a {expected.__name__}, got {value!r}")
    return value
