"""Each workflow's execution input: a Pydantic model that rejects unknown fields, parses dates and bounds caps,
read before anything is written. What an input leaves out comes from the stack's settings, passed in as
InputDefaults: the models read no environment, so the CLI and the console check an input as the functions do."""

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tender_sync.changes.events import DETAIL_TYPE, TendersChanged
from tender_sync.errors import InvalidInput
from tender_sync.models.jobs import Window
from tender_sync.settings import SyncSettings
from tender_sync.source.normalize import malformed_ocid
from tender_sync.source.publishers import by_source
from tender_sync.storage.cursor import source_today

# The most portal lookups one run may make: a Map of 10,000 items is still well inside the run's hour.
MAX_ENRICHMENT = 10_000
# A backfill costs about 58 history events a window: 400 windows stay below Step Functions' 25,000.
MAX_BACKFILL_WINDOWS = 400
# The longest window one sync or backfill window may span: longer ranges are a backfill's, in windows.
MAX_WINDOW_DAYS = 31
# The most ocids one single-tender run takes: FetchRelease fetches them within its timeout, and their lookups fit
# in the run's 15 minutes. The app events' consumer gathers the ocids of up to this many tender/enrich.requested
# events into one run.
MAX_OCIDS = 500
# Who started a run, when its input does not say.
MANUAL = "manual"

Request = TypeVar("Request", bound=BaseModel)


@dataclass(frozen=True)
class InputDefaults:
    """What an input may leave out (the run's cap on lookups, a backfill's window length), and the prefix an ocid
    must have: the stack's settings (cdk.json)."""

    max_enrichment: int
    window_days: int
    ocid_prefix: str | None

    @classmethod
    def of(cls, settings: SyncSettings) -> "InputDefaults":
        return cls(settings.max_enrichment, settings.window_days, by_source(settings.source_name).ocid_prefix)


def _defaults(info: ValidationInfo) -> InputDefaults:
    if not isinstance(info.context, InputDefaults):
        raise TypeError("an input is validated with its InputDefaults as the context (parse_input)")
    return info.context


def _with_defaults(data: Any, info: ValidationInfo, **fields: str) -> Any:
    """The input with each field it leaves out (by its JSON name) set from InputDefaults' attribute of that name."""
    if not isinstance(data, dict):
        return data  # refused by the model, naming what it got
    defaults = _defaults(info)
    return {**{field: getattr(defaults, attribute) for field, attribute in fields.items()}, **data}


class SyncRequest(BaseModel):
    """The sync state machine's execution input."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    maxEnrichment: int = Field(ge=0, le=MAX_ENRICHMENT)
    triggeredBy: str = Field(default="manual", max_length=200)
    scheduledTime: str | None = None
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")

    @model_validator(mode="before")
    @classmethod
    def defaults(cls, data: Any, info: ValidationInfo) -> Any:
        return _with_defaults(data, info, maxEnrichment="max_enrichment")

    @model_validator(mode="after")
    def window_is_workable(self) -> "SyncRequest":
        """A window that would move the cursor past what the source has published, and so skip every release
        published meanwhile, is refused; so is one longer than MAX_WINDOW_DAYS (a backfill's job)."""
        if (self.date_from is None) != (self.date_to is None):
            raise ValueError("give both 'from' and 'to', or neither")
        if self.date_from and self.date_to:
            check_range(self.date_from, self.date_to)
            days = (self.date_to - self.date_from).days
            if days > MAX_WINDOW_DAYS:
                raise ValueError(
                    f"the window spans {days} days; a sync takes at most {MAX_WINDOW_DAYS}: use a backfill for longer"
                )
        return self

    def requested_window(self) -> "Window | None":
        if self.date_from is None or self.date_to is None:
            return None
        return Window(date_from=self.date_from, date_to=self.date_to)


class EnrichTodayRequest(BaseModel):
    """enrich-today: look up today's tenders still lacking their detailed category, at most maxEnrichment."""

    model_config = ConfigDict(extra="forbid")

    maxEnrichment: int = Field(ge=1, le=MAX_ENRICHMENT)
    adminUserId: str | None = Field(default=None, min_length=1, max_length=200)

    @property
    def triggered_by(self) -> str:
        return f"admin {self.adminUserId}" if self.adminUserId else "manual"


class BackfillRequest(BaseModel):
    """backfill: the releases dated in [from, to), worked through in windows of windowDays days."""

    model_config = ConfigDict(extra="forbid")

    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")
    windowDays: int = Field(ge=1, le=MAX_WINDOW_DAYS)
    maxEnrichment: int = Field(ge=0, le=MAX_ENRICHMENT)

    @model_validator(mode="before")
    @classmethod
    def defaults(cls, data: Any, info: ValidationInfo) -> Any:
        return _with_defaults(data, info, windowDays="window_days", maxEnrichment="max_enrichment")

    @model_validator(mode="after")
    def range_is_workable(self) -> "BackfillRequest":
        check_range(self.date_from, self.date_to)
        windows = math.ceil((self.date_to - self.date_from).days / self.windowDays)
        if windows > MAX_BACKFILL_WINDOWS:
            raise ValueError(
                f"{windows} windows of {self.windowDays} days; at most {MAX_BACKFILL_WINDOWS} per backfill: "
                "use larger windows or split the range"
            )
        return self


class SingleTenderRequest(BaseModel):
    """single-tender: one ocid (with, as the app's tender/enrich.requested event gives it, when the tender was
    published), or a list of up to MAX_OCIDS (the app events' consumer gathers a batch of those events into one
    run); each fetched from the release endpoint."""

    model_config = ConfigDict(extra="forbid")

    ocid: str | None = None
    publishedAt: datetime | None = None
    ocids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_OCIDS)

    @field_validator("ocid")
    @classmethod
    def ocid_is_well_formed(cls, ocid: str | None, info: ValidationInfo) -> str | None:
        if ocid is not None:
            _check_ocid(ocid, info)
        return ocid

    @field_validator("ocids", mode="before")
    @classmethod
    def not_beside_ocid(cls, ocids: Any, info: ValidationInfo) -> Any:
        if info.data.get("ocid") is not None:
            raise PydanticCustomError("extra_forbidden", "not beside 'ocid': give one or the other")
        return ocids

    @field_validator("ocids")
    @classmethod
    def each_is_well_formed(cls, ocids: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if ocids is None:
            return None
        for ocid in ocids:
            _check_ocid(ocid, info)
        return list(dict.fromkeys(ocids))  # each once, in the order given

    @model_validator(mode="after")
    def names_its_tenders(self) -> "SingleTenderRequest":
        if self.ocid is None and self.ocids is None:
            raise ValueError("give 'ocid' (one tender) or 'ocids' (a list of them)")
        if self.publishedAt is not None and self.ocid is None:
            raise ValueError("'publishedAt' goes with 'ocid', one tender")
        return self

    @property
    def all_ocids(self) -> list[str]:
        return [self.ocid] if self.ocid is not None else list(self.ocids or [])

    @property
    def triggered_by(self) -> str:
        """Who started it, and when its tender was published, when the request says."""
        if self.publishedAt is None:
            return MANUAL
        published = self.publishedAt if self.publishedAt.tzinfo else self.publishedAt.replace(tzinfo=UTC)
        return f"{MANUAL}, published {published.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _check_ocid(ocid: str, info: ValidationInfo) -> None:
    malformed = malformed_ocid(ocid, _defaults(info).ocid_prefix)
    if malformed:
        raise ValueError(malformed)


class CleanupRequest(BaseModel):
    """cleanup: no settings; the schedule says who started it and when."""

    model_config = ConfigDict(extra="forbid")

    triggeredBy: str = Field(default="manual", max_length=200)
    scheduledTime: str | None = None


class AlertsRequest(BaseModel):
    """alerts: a `Tenders Changed` event as the rule delivers it (its matches, then every delivery due), or none
    (the schedule: the digests and the retries due)."""

    model_config = ConfigDict(extra="forbid")

    triggeredBy: str = Field(default="manual", max_length=200)
    scheduledTime: str | None = None
    # The change event's id (detail.id), which a second delivery of the same event is known by.
    event: str | None = None

    @model_validator(mode="before")
    @classmethod
    def from_change_event(cls, data: Any) -> Any:
        """An EventBridge event (it has a detail-type) is taken as the event it announces."""
        if not (isinstance(data, dict) and "detail-type" in data):
            return data
        if data["detail-type"] != DETAIL_TYPE or not isinstance(data.get("detail"), dict):
            raise ValueError(f"an event that starts alerts is a {DETAIL_TYPE!r} event, with its detail")
        return {"triggeredBy": "event", "event": TendersChanged.model_validate(data["detail"]).id}


def check_range(date_from: date, date_to: date) -> None:
    """[date_from, date_to) is a range of days the source has published: not empty, not past today."""
    if date_from >= date_to:
        raise ValueError(f"'from' ({date_from}) must be before 'to' ({date_to}); 'to' is exclusive")
    tomorrow = source_today() + timedelta(days=1)
    if date_to > tomorrow:
        raise ValueError(
            f"'to' ({date_to}) is in the future: at most {tomorrow} (the day after today in South Africa, exclusive)"
        )


def parse_input(model: type[Request], value: object, workflow: str, defaults: InputDefaults | None) -> Request:
    """The execution input as `model`, or InvalidInput with a one-line reason naming each bad field."""
    try:
        return model.model_validate(value if value is not None else {}, context=defaults)
    except ValidationError as error:
        raise InvalidInput(f"invalid {workflow} input: {one_line(error)}") from None


# What a value must be, by pydantic's error type, in the input's words.
EXPECTED = {
    "date_parsing": "is not a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "is not a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "is not a date (YYYY-MM-DD)",
    "date_type": "is not a date (YYYY-MM-DD)",
    "datetime_parsing": "is not a date and time (ISO 8601)",
    "datetime_from_date_parsing": "is not a date and time (ISO 8601)",
    "datetime_type": "is not a date and time (ISO 8601)",
    "int_parsing": "is not a whole number",
    "int_type": "is not a whole number",
    "int_from_float": "is not a whole number",
    "string_type": "is not a string",
    "list_type": "is not a list",
}


def one_line(error: ValidationError) -> str:
    """A pydantic error as one line naming each bad field and what it takes."""
    return "; ".join(_problem(e) for e in error.errors(include_url=False))


def _problem(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "value_error":
        text = str(error["ctx"]["error"])
    elif kind == "missing":
        text = "required"
    elif kind == "extra_forbidden":
        text = "not a field of this input" if error["msg"] == "Extra inputs are not permitted" else error["msg"]
    elif kind == "model_type":
        text = f"the input must be a JSON object, not {type(error['input']).__name__}"
    elif kind in EXPECTED:
        text = f"{error['input']!r} {EXPECTED[kind]}"
    else:
        text = error["msg"]
    return f"{field}: {text}" if field else text
