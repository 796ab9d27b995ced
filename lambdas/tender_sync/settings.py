"""Runtime settings, in groups: a function reads only the groups it uses, and the stack gives it only their
environment (infra/functions.py). Each variable is its field's name in upper case, and its value comes from
cdk.json; there are no defaults here. A function missing one fails at cold start, naming it."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Group = TypeVar("Group", bound="DataclassInstance")


class MissingSettings(RuntimeError):
    """The function's environment lacks settings it needs."""


def environment_names(group: type) -> list[str]:
    """The environment variables a settings group reads."""
    return [field.name.upper() for field in fields(group)]


def from_env(group: type[Group]) -> Group:
    """The settings group from the environment, each value typed as its field is."""
    return from_mapping(group, os.environ)


def from_mapping(group: type[Group], variables: Mapping[str, str]) -> Group:
    """The settings group from variables named as the environment names them (the stack's settings_environment)."""
    missing = [name for name in environment_names(group) if not variables.get(name)]
    if missing:
        raise MissingSettings(f"{group.__name__} needs {', '.join(missing)} in the environment")
    return group(**{field.name: _typed(variables[field.name.upper()], field.type) for field in fields(group)})


def _typed(text: str, kind: Any) -> Any:
    if kind in (int, "int"):
        return int(text)
    if kind in (date, "date"):
        return date.fromisoformat(text)
    return text


@dataclass(frozen=True)
class SourceSettings:
    """The publisher: its name (in sync_state and job_log) and where its API and portal are."""

    source_name: str
    ocds_base_url: str
    portal_base_url: str


@dataclass(frozen=True)
class ArtifactSettings:
    """Where a run's artifacts go (the claim check)."""

    bucket_name: str


@dataclass(frozen=True)
class ChangeSettings:
    """The EventBridge bus the change events go to (tender_sync.changes)."""

    event_bus_name: str


@dataclass(frozen=True)
class LookupSettings:
    """How the backlog's lookups are batched and paced (the portal's rate is shared by every run), and when a
    tender the portal did not list is checked again."""

    lookup_batch_size: int
    map_max_concurrency: int
    portal_requests_per_second: int
    not_found_recheck_hours: int


@dataclass(frozen=True)
class JobSettings:
    """The source whose jobs, cursor and lease a function records."""

    source_name: str


@dataclass(frozen=True)
class SyncSettings:
    """How the sync picks its windows, holds its lease and caps its lookups."""

    source_name: str
    first_run_from: date
    window_days: int
    overlap_days: int
    lease_seconds: int
    max_enrichment: int


@dataclass(frozen=True)
class OwnerSettings:
    """The secret holding the schema owner's URL, which only the deploy-time migration reads."""

    database_owner_secret_arn: str


@dataclass(frozen=True)
class AlertSettings:
    """What an alerts run's matching and planning read: the link each tender gets, and when the daily digests go."""

    tender_url_template: str
    alert_digest_hour: int


@dataclass(frozen=True)
class EmailSettings:
    """How alert emails are sent: the sender, SES's configuration set (its bounces and complaints pause
    subscriptions), and the one-click unsubscribe endpoint."""

    alert_from_address: str
    alert_configuration_set: str
    unsubscribe_url: str
