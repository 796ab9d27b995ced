"""What the sample source gets wrong, on request.

Faults (class Faults; constructor argument, `--faults-*` flags or SAMPLE_FAULTS_* environment variables),
all drawn from one seed so a run can be repeated:
- request faults, on any path (listing, detail, portal search), a share `rate` of requests: 429 with and
  without Retry-After, 500, 502, 503, a reply slower than the client waits, JSON cut short, HTTP 200 with
  an error body, and the body in ISO-8859-1 (declared in Content-Type). Whether the n-th request for a URL
  faults depends on the seed, the URL and n only, so concurrent clients do not change the draw;
- unstable paging: every listing request orders the releases afresh, so the pages of one listing overlap
  and miss releases, as the eTenders API does;
- data faults, a share `broken` of releases: no ocid, no date, the 0001-01-01 date sentinel (all three
  must end in quarantine), or the sentinel as the closing date (stored as "no closing date").
- poisoned releases, a share `poisoned`, each kind in turn: values JSON carries but PostgreSQL refuses as
  they are: a NUL character in the description and deeper, a lone UTF-16 surrogate, an amount of "1e999999",
  an amount of NaN (all four stored cleaned), and a malformed ocid holding a path (quarantined).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

NO_DATE = "0001-01-01T00:00:00"  # .NET DateTime.MinValue, as eTenders sends "no date"

# Request faults: a status with an error body, or a 200 whose bytes are not what the API promises.
STATUS_FAULTS = {"429-retry-after": 429, "429": 429, "500": 500, "502": 502, "503": 503}
REQUEST_FAULTS = (*STATUS_FAULTS, "slow", "truncated", "error-body", "latin-1")
# Data faults: releases a correct sync quarantines, and a quirk it stores as "no closing date".
BROKEN_RELEASE_FAULTS = ("missing-ocid", "missing-date", "sentinel-date")
DATA_FAULTS = (*BROKEN_RELEASE_FAULTS, "sentinel-close")
# Poisoned releases: a correct sync stores the first four cleaned and quarantines the last.
POISON_FAULTS = ("nul-text", "lone-surrogate", "huge-amount", "nan-amount", "malformed-ocid")
QUARANTINED_POISON_FAULTS = ("malformed-ocid",)
ERROR_BODY = {"message": "An error has occurred."}  # an ASP.NET-style error object, sent with HTTP 200
FAULTS_ENVIRONMENT_PREFIX = "SAMPLE_FAULTS_"


@dataclass(frozen=True)
class Faults:
    """What the source gets wrong, and how often. The same seed gives the same faults."""

    seed: int = 0
    rate: float = 0.0  # share of requests answered with one of `kinds`
    kinds: tuple[str, ...] = REQUEST_FAULTS
    broken: float = 0.0  # share of releases published with one of DATA_FAULTS
    poisoned: float = 0.0  # share of releases published with one of POISON_FAULTS
    unstable_paging: bool = False
    slow_seconds: float = 2.0  # how long a "slow" reply takes: longer than the client waits
    retry_after: int = 1  # the Retry-After of a "429-retry-after"

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(REQUEST_FAULTS)
        if unknown:
            raise ValueError(f"unknown request faults {sorted(unknown)}; known: {', '.join(REQUEST_FAULTS)}")
        if not all(0 <= share <= 1 for share in (self.rate, self.broken, self.poisoned)):
            raise ValueError("rate, broken and poisoned are shares, from 0 to 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Faults":
        """Faults from SAMPLE_FAULTS_SEED, _RATE, _KINDS (comma-separated), _BROKEN, _POISONED, _UNSTABLE_PAGING (1/0),
        _SLOW_SECONDS and _RETRY_AFTER; none set means no faults."""
        variables = os.environ if environ is None else environ
        values = {}
        for setting in fields(cls):
            text = variables.get(FAULTS_ENVIRONMENT_PREFIX + setting.name.upper())
            if text is not None:
                values[setting.name] = parse_setting(setting.name, text)
        return cls(**values)


def parse_setting(name: str, text: str) -> Any:
    """A Faults setting from text, typed as its default is."""
    default = getattr(Faults, name)
    if isinstance(default, tuple):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if isinstance(default, bool):
        return is_true(text)
    return type(default)(text)


def is_true(text: str) -> bool:
    """A yes/no setting's text: 1, true, yes or on."""
    return text.strip().lower() in {"1", "true", "yes", "on"}
