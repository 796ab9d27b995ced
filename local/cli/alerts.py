"""`make cli ARGS="alerts ..."`: add, list, remove, pause, resume alert subscriptions, and rotate a webhook's signing
secret (tender_sync.alerts.subscriptions). A value refused is one line on stderr, exit 1, and nothing is written."""

import argparse
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

import psycopg

from local.cli.tables import print_subscriptions
from tender_sync.alerts import subscriptions
from tender_sync.alerts.models import Filters, NewSubscription
from tender_sync.alerts.subscriptions import InvalidSubscription
from tender_sync.storage.database import connection_string

PAUSED_BY_HAND = "paused from the command line"


def add_parser(commands: Any) -> None:
    """The `alerts` command group, under the CLI's commands."""
    alerts = commands.add_parser("alerts", help="alert subscriptions: add, list, remove, pause, resume, rotate-secret")
    actions = alerts.add_subparsers(dest="action", required=True)

    add = actions.add_parser("add", help="add a subscription: prints its id, and a webhook's signing secret once")
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--webhook", metavar="URL", help="an HTTPS URL, signed as Standard Webhooks")
    target.add_argument("--email", metavar="ADDRESS")
    add.add_argument("--category", action="append", default=[], help="a portal detailed category (repeatable)")
    add.add_argument("--province", action="append", default=[], help="a portal province (repeatable)")
    add.add_argument("--buyer", action="append", default=[], help="part of the buyer's name, any case (repeatable)")
    add.add_argument(
        "--query", help='words in the title or description, web-search style: security -cleaning, "a b" or c'
    )
    add.add_argument("--min-value", help="the tender's value at least this")
    add.add_argument("--daily", action="store_true", help="one digest a day instead of one message per change")
    add.add_argument("--updates", action="store_true", help="also each newer release of a tender already notified")

    actions.add_parser("list", help="every subscription, its filters, and whether it is paused (never its secret)")
    for action, help_text in (
        ("remove", "delete a subscription, with what it was told and still has to be told"),
        ("pause", "match and deliver nothing for it until it is resumed"),
        ("resume", "match and deliver again; what it has pending is due now"),
        ("rotate-secret", "a new signing secret for a webhook (the old one stops working at once)"),
    ):
        parser = actions.add_parser(action, help=help_text)
        parser.add_argument("id", type=int)
        if action == "pause":
            parser.add_argument("--reason", default=PAUSED_BY_HAND)


def run(args: argparse.Namespace, where: Any, out: TextIO) -> int:
    """The `alerts` action on the database `where` names (Local or Deployed: its URL, its alerts key, whether a
    loopback webhook is allowed)."""
    new = _new_subscription(args) if args.action == "add" else None
    with psycopg.connect(connection_string(where.database_url())) as conn:
        try:
            if new is not None:
                subscription, secret = subscriptions.add(conn, new, where.alerts_key(), where.allow_loopback())
                print(f"id:      {subscription.id}", file=out)
                if secret:
                    print(f"secret:  {secret}", file=out)
                    print("         (shown once: the webhook verifies signatures with it)", file=out)
            elif args.action == "list":
                print_subscriptions(subscriptions.list_all(conn), out)
            elif args.action == "rotate-secret":
                print(f"secret:  {subscriptions.rotate_secret(conn, args.id, where.alerts_key())}", file=out)
            elif not _change(conn, args):
                raise SystemExit(f"subscription {args.id} does not exist")
            else:
                print(f"{args.action}d subscription {args.id}", file=out)
        except InvalidSubscription as refused:
            raise SystemExit(str(refused)) from None
    return 0


def _change(conn: psycopg.Connection, args: argparse.Namespace) -> bool:
    """remove, pause or resume: False when there is no such subscription."""
    if args.action == "remove":
        return subscriptions.remove(conn, args.id)
    if args.action == "pause":
        return subscriptions.pause(conn, args.id, args.reason)
    return subscriptions.resume(conn, args.id)


def _new_subscription(args: argparse.Namespace) -> NewSubscription:
    return NewSubscription(
        channel="webhook" if args.webhook else "email",
        address=args.webhook or args.email,
        filters=Filters(
            categories=args.category,
            provinces=args.province,
            buyers=args.buyer,
            query=args.query,
            min_value=_decimal(args.min_value),
        ),
        frequency="daily" if args.daily else "instant",
        updates=args.updates,
    )


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise SystemExit(f"--min-value: {text!r} is not a number")
    return value
