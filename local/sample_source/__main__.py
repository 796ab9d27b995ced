import argparse
import threading
from collections.abc import Callable
from dataclasses import fields
from datetime import date
from typing import Any

from local.sample_source.faults import FAULTS_ENVIRONMENT_PREFIX, Faults, parse_setting
from local.sample_source.releases import LIVE_START, PUBLISH_EVERY
from local.sample_source.server import FIXED_ENVIRONMENT_VARIABLE, FIXED_LAYOUT, SampleSource


def setting_parser(name: str) -> Callable[[str], Any]:
    """The argparse type of a Faults setting's flag."""
    return lambda text: parse_setting(name, text)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.sample_source", description="Serve a local eTenders-compatible OCDS API and portal."
    )
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--fixed",
        action="store_true",
        default=None,
        help=f"the fixed data, --count tenders over --days days from --start (or {FIXED_ENVIRONMENT_VARIABLE}=1); "
        "default: the live data",
    )
    parser.add_argument("--start", type=date.fromisoformat, default=FIXED_LAYOUT[0], help="first release day")
    parser.add_argument("--days", type=int, default=FIXED_LAYOUT[1])
    parser.add_argument("--count", type=int, default=FIXED_LAYOUT[2], help="number of tenders")
    parser.add_argument("--portal-latency", type=float, default=0.0, help="seconds per portal search")
    from_env = Faults.from_env()
    for setting in fields(Faults):
        default = getattr(from_env, setting.name)
        flag = "--faults-" + setting.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(
                flag,
                type=setting_parser(setting.name),
                default=default,
                help=f"default {','.join(default) if isinstance(default, tuple) else default} "
                f"(or {FAULTS_ENVIRONMENT_PREFIX}{setting.name.upper()})",
            )
    arguments = parser.parse_args()
    faults = Faults(**{setting.name: getattr(arguments, "faults_" + setting.name) for setting in fields(Faults)})
    try:
        source = SampleSource(
            arguments.start, arguments.days, arguments.count, arguments.portal_latency, faults, fixed=arguments.fixed
        )
    except ValueError as error:
        parser.error(str(error))
    url = source.start(arguments.port)
    if source.fixed:
        print(f"Serving {len(source.releases)} releases of {arguments.count} tenders at {url}", flush=True)
    else:
        every = f"{PUBLISH_EVERY.total_seconds() / 60:g} minutes"
        print(f"Serving a new tender every {every} since {LIVE_START:%Y-%m-%d %H:%M %Z} at {url}", flush=True)
    if faults.rate or faults.broken or faults.unstable_paging:
        broken = f"; broken on purpose: {len(source.broken)} releases" if source.fixed else ""
        print(f"with faults: {faults}{broken}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        source.stop()


main()
