"""What `make run`, `make up` and the CLI share on their command lines: a parser whose every refusal is one line
naming the flag and what it takes, the day a date flag takes, and the source URLs given both or neither."""

import argparse
from datetime import date, datetime
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, refusing in one line (`make run: --from: '2025-13-01' is not a date (YYYY-MM-DD)`), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message.removeprefix('argument ')}\n")


def day(text: str) -> date:
    """A date flag's value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_source_urls(parser: argparse.ArgumentParser, scope: str = "") -> None:
    """--ocds-url and --portal-url; `scope` says where they apply ("locally: ")."""
    parser.add_argument("--ocds-url", metavar="URL", help=f"{scope}the OCDS API's base URL, with --portal-url")
    parser.add_argument("--portal-url", metavar="URL", help=f"{scope}the eTenders portal's base URL, with --ocds-url")


def check_source_urls(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Both source URLs or neither: the sample source serves both, or the real source does."""
    if (args.ocds_url is None) != (args.portal_url is None):
        parser.error("give both --ocds-url and --portal-url, or neither (the sample source then serves both)")


def whole_number(text: str) -> int:
    """A count flag's value."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def moment(text: str) -> datetime:
    """A date-and-time flag's value."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date and time (ISO 8601)") from None
