"""The template's EventBridge Scheduler schedules, firing here as Scheduler fires them: at their expression
(rate, cron or at, in their time zone), starting their target state machine with the target's Input, its context
attributes (<aws.scheduler.scheduled-time> and the rest) filled in. `every` makes each fire every so many seconds
instead, for demos and tests."""

import json
import re
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from local.engine.stack import LocalStack
from local.engine.template import ACCOUNT, REGION

RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
CRON = re.compile(r"cron\((.*)\)")
AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]  # Scheduler's 1..7
# cron fields: name, lowest, highest, names for the values from `lowest`.
CRON_FIELDS = [
    ("minutes", 0, 59, []),
    ("hours", 0, 23, []),
    ("day-of-month", 1, 31, []),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 1, 7, WEEKDAYS),
    ("year", 1970, 2199, []),
]
# How far ahead a cron expression is searched for its next time.
CRON_HORIZON_DAYS = 5 * 366


class Rate:
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def next_after(self, moment: datetime, started: datetime) -> datetime | None:
        """Every `seconds` from when the schedule was made (when `make up` started)."""
        periods = int((moment - started).total_seconds() // self.seconds) + 1
        return started + timedelta(seconds=periods * self.seconds)


class At:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def next_after(self, moment: datetime, started: datetime) -> datetime | None:
        return self.moment if self.moment > moment else None


class Cron:
    """Scheduler's six fields: minutes hours day-of-month month day-of-week year, with * ? , - / and L (the last
    day of the month; 6L the last Friday) and # (6#3, the third Friday). W is refused."""

    def __init__(self, fields: list[str], zone: ZoneInfo, expression: str) -> None:
        if len(fields) != 6:
            raise ValueError(f"{expression}: a cron expression has 6 fields, not {len(fields)}")
        self.zone, self.expression = zone, expression
        self.minutes, self.hours, self.days, self.months, self.weekdays, self.years = fields
        if (self.days == "?") == (self.weekdays == "?"):
            raise ValueError(f"{expression}: one of day-of-month and day-of-week must be ?, and only one")
        self.minute_values = sorted(self._values(0, self.minutes))
        self.hour_values = sorted(self._values(1, self.hours))
        self.month_values = self._values(3, self.months)
        self.year_values = self._values(5, self.years)
        self.day_of_month = self._day_test(2, self.days)
        self.day_of_week = self._day_test(4, self.weekdays)

    def _values(self, index: int, field: str) -> set[int]:
        name, lowest, highest, _names = CRON_FIELDS[index]
        values: set[int] = set()
        for part in field.split(","):
            match = re.fullmatch(r"(\*|\w+(?:-\w+)?)(?:/(\d+))?", part)
            if not match:
                raise ValueError(f"{self.expression}: {name} {part!r} is not a value, range, list or step")
            span, step = match.group(1), int(match.group(2) or 1)
            if span == "*":
                first, last = lowest, highest
            else:
                first_text, _, last_text = span.partition("-")
                first = self._number(first_text, index)
                last = self._number(last_text, index) if last_text else (highest if match.group(2) else first)
            if not lowest <= first <= last <= highest or step < 1:
                raise ValueError(f"{self.expression}: {name} {part!r} is outside {lowest}-{highest}")
            values.update(range(first, last + 1, step))
        return values

    def _number(self, text: str, index: int) -> int:
        name, lowest, _highest, names = CRON_FIELDS[index]
        if text.upper() in names:
            return names.index(text.upper()) + lowest
        if not text.isdigit():
            raise ValueError(
                f"{self.expression}: {name} {text!r} is not a number"
                + (f" or one of {' '.join(names)}" if names else "")
            )
        return int(text)

    def _day_test(self, index: int, field: str) -> Callable[[date], bool]:
        """A test of a day for the day-of-month (index 2) or day-of-week (index 4) field."""
        if field == "?":
            return lambda day: True
        if "W" in field.upper() and field != "*":
            raise ValueError(f"{self.expression}: W (the nearest weekday) is not supported by the local scheduler")
        if index == 2 and field.upper() == "L":
            return lambda day: (day + timedelta(days=1)).month != day.month
        if index == 4 and re.fullmatch(r"\w+L", field.upper()):
            weekday = self._number(field[:-1], 4)
            return lambda day: weekday_of(day) == weekday and (day + timedelta(days=7)).month != day.month
        if index == 4 and "#" in field:
            weekday_text, _, nth = field.partition("#")
            weekday = self._number(weekday_text, 4)
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise ValueError(f"{self.expression}: day-of-week {field!r}: the week after # is 1 to 5")
            return lambda day: weekday_of(day) == weekday and (day.day - 1) // 7 + 1 == int(nth)
        values = self._values(index, field)
        return (lambda day: day.day in values) if index == 2 else (lambda day: weekday_of(day) in values)

    def next_after(self, moment: datetime, started: datetime) -> datetime | None:
        local = moment.astimezone(self.zone)
        for offset in range(CRON_HORIZON_DAYS):
            day = local.date() + timedelta(days=offset)
            if day.year not in self.year_values or day.month not in self.month_values:
                continue
            if not (self.day_of_month(day) and self.day_of_week(day)):
                continue
            for hour in self.hour_values:
                for minute in self.minute_values:
                    candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)
                    if candidate > moment:
                        return candidate.astimezone(UTC)
        return None


def weekday_of(day: date) -> int:
    """Scheduler's day of the week: 1 is Sunday, 7 Saturday."""
    return (day.weekday() + 1) % 7 + 1


def parse_expression(expression: str, zone_name: str = "UTC") -> Rate | Cron | At:
    """A schedule expression, or ValueError saying what is wrong with it."""
    try:
        zone = ZoneInfo(zone_name)
    except (ValueError, KeyError):
        raise ValueError(f"{expression}: unknown time zone {zone_name!r}") from None
    if match := RATE.fullmatch(expression):
        count, unit = int(match.group(1)), match.group(2)
        if count < 1:
            raise ValueError(f"{expression}: a rate is at least 1")
        if (count == 1) != (not unit.endswith("s")):
            raise ValueError(f"{expression}: Scheduler wants 1 {unit.rstrip('s')}, or 2 and more {unit.rstrip('s')}s")
        return Rate(count * UNIT_SECONDS[unit.rstrip("s")])
    if match := CRON.fullmatch(expression):
        return Cron(match.group(1).split(), zone, expression)
    if match := AT.fullmatch(expression):
        return At(datetime.fromisoformat(match.group(1)).replace(tzinfo=zone))
    raise ValueError(
        f"{expression!r} is not a schedule expression: rate(N minutes|hours|days), cron(6 fields) or at(yyyy-mm-ddThh:mm:ss)"
    )


def scheduled_time(moment: datetime) -> str:
    """<aws.scheduler.scheduled-time> as Scheduler gives it: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str
    when: Rate | Cron | At
    state_machine: str  # its logical id
    input: str

    @property
    def arn(self) -> str:
        return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{self.name}"

    def target_input(self, moment: datetime) -> dict[str, Any]:
        """The target's Input with Scheduler's context attributes filled in."""
        attributes = {
            "scheduled-time": scheduled_time(moment),
            "schedule-arn": self.arn,
            "execution-id": str(uuid.uuid4()),
            "attempt-number": "1",
        }
        text = self.input
        for name, value in attributes.items():
            text = text.replace(f"<aws.scheduler.{name}>", value)
        return json.loads(text)


def template_schedules(template: dict[str, Any]) -> list[Schedule]:
    """The template's enabled schedules whose target is one of its state machines."""
    schedules = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Scheduler::Schedule":
            continue
        properties = resource["Properties"]
        if properties.get("State", "ENABLED") != "ENABLED":
            continue
        expression = properties["ScheduleExpression"]
        try:
            when = parse_expression(expression, properties.get("ScheduleExpressionTimezone", "UTC"))
        except ValueError as error:
            raise ValueError(f"schedule {logical_id}: {error}") from None
        target = properties["Target"]
        schedules.append(Schedule(logical_id, expression, when, target["Arn"]["Ref"], target.get("Input", "{}")))
    return schedules


class Scheduler:
    """Fires each schedule at its times (or every `every` seconds), until stopped."""

    def __init__(self, local: LocalStack, every: float | None = None, out: TextIO = sys.stdout) -> None:
        self.local, self.every, self.out = local, every, out
        self.schedules = template_schedules(local.template)
        self.started = datetime.now(UTC)
        self.next_times = {schedule.name: self._next(schedule, self.started) for schedule in self.schedules}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def _next(self, schedule: Schedule, moment: datetime) -> datetime | None:
        if self.every:
            return moment + timedelta(seconds=self.every)
        return schedule.when.next_after(moment, self.started)

    def __enter__(self) -> "Scheduler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            due = [moment for moment in self.next_times.values() if moment]
            wait = (min(due) - datetime.now(UTC)).total_seconds() if due else None
            if self._stopped.wait(None if wait is None else max(0.0, wait)):
                return
            now = datetime.now(UTC)
            for schedule in self.schedules:
                moment = self.next_times[schedule.name]
                if moment and moment <= now:
                    self.next_times[schedule.name] = self._next(schedule, moment)
                    self.fire(schedule, moment)

    def fire(self, schedule: Schedule, moment: datetime) -> str:
        arn = self.local.start(schedule.state_machine, schedule.target_input(moment))
        print(f"{schedule.name} ({schedule.expression}) started {arn.rsplit(':', 1)[-1]}", file=self.out, flush=True)
        return arn
