"""Runtime settings, in groups: a function reads only the groups it uses, and the stack gives it only their
environment (infra/functions.py). Each variable is its field's name in upper case, and its value comes from
cdk.json; there are no defaults here. A function missing one fails at cold start, naming it."""
import os
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, TypeVar

Group = TypeVar("Group")


class MissingSettings(RuntimeError):
    """The function's environment lacks settings it needs."""


def environment_names(group: type) -> list[str]:
    """The environment variables a settings group reads."""
    return [field.name.upper() for field in fields(group)]


def from_env(group: type[Group]) -> Group:
    """The settings group from the environment, each value typed as its field is."""
    missing = [name for name in environment_names(group) if not os.environ.get(name)]
    if missing:
        raise MissingSettings(f"{group.__name__} needs {', '.join(missing)} in the environment")
    return group(**{field.name: _typed(os.environ[field.name.upper()], field.type) for field in fields(group)})


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
class SyncSettings:
    """How the sync picks its windows, holds its lease and caps its lookups."""

    source_name: str
    first_run_from: date
    window_days: int
    overlap_days: int
    lease_seconds: int
    max_enrichment: int


@dataclass(frozen=True)
class Settings:
    """Every setting at once, as the functions read them before the groups above (being replaced)."""

    bucket: str
    source_name: str
    ocds_base_url: str
    portal_base_url: str
    first_run_from: date
    window_days: int
    overlap_days: int
    lease_seconds: int

    @property
    def ocid_prefix(self) -> str:
        from tender_sync.publishers import by_source

        return by_source(self.source_name).ocid_prefix

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        return cls(
            bucket=env.get("BUCKET_NAME", ""),
            source_name=env.get("SOURCE_NAME", "etenders-za"),
            ocds_base_url=env.get("OCDS_BASE_URL", "https://ocds-api.etenders.gov.za"),
            portal_base_url=env.get("PORTAL_BASE_URL", "https://www.etenders.gov.za"),
            first_run_from=date.fromisoformat(env.get("FIRST_RUN_FROM", "2025-09-01")),
            window_days=int(env.get("WINDOW_DAYS", "7")),
            overlap_days=int(env.get("OVERLAP_DAYS", "1")),
            lease_seconds=int(env.get("LEASE_SECONDS", "3600")),
        )
