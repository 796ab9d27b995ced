"""Runtime settings, from the environment the stack gives every function."""
import os
from dataclasses import dataclass
from datetime import date

from tender_sync.normalize import OCID_PREFIX_BY_SOURCE


@dataclass(frozen=True)
class Settings:
    bucket: str
    source_name: str
    ocds_base_url: str
    portal_base_url: str
    first_run_from: date
    window_days: int
    overlap_days: int
    lease_seconds: int

    @property
    def ocid_prefix(self) -> str | None:
        """The ocid prefix every release of this source carries, where it is known."""
        return OCID_PREFIX_BY_SOURCE.get(self.source_name)

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
