"""`python -m local.migrate` (`make migrate`): the schema's migrations applied as its owner.

Locally: the embedded PostgreSQL, or DATABASE_URL when set. With --stack NAME: the deployed stack's database,
through the owner's secret the stack names (DatabaseOwnerSecretArn), or DATABASE_URL when set."""

import argparse
import os
import sys

import boto3

from local.engine.database import local_database_url
from tender_sync.errors import DatabaseError, DatabaseUnavailable, InvalidDatabaseUrl
from tender_sync.storage import database, migrations

OWNER_SECRET_OUTPUT = "DatabaseOwnerSecretArn"


def stack_owner_url(stack: str, region: str | None) -> str:
    """The owner's URL from the stack's owner secret."""
    session = boto3.session.Session(region_name=region)
    outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    arns = [output["OutputValue"] for output in outputs if output["OutputKey"] == OWNER_SECRET_OUTPUT]
    if not arns:
        raise SystemExit(f"migrate failed: the stack {stack} has no {OWNER_SECRET_OUTPUT} output; deploy it first")
    secret: str = session.client("secretsmanager").get_secret_value(SecretId=arns[0])["SecretString"]
    return secret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make migrate", description="Apply the schema's migrations, as the schema's owner."
    )
    parser.add_argument("--stack", help="the deployed stack whose database to migrate (its owner secret's URL)")
    parser.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    args = parser.parse_args(argv)
    if os.environ.get("DATABASE_URL") or not args.stack:
        url = local_database_url()
    else:
        url = stack_owner_url(args.stack, args.region)
    try:
        with database.connect(url) as conn:
            applied = migrations.migrate(conn)
    except (DatabaseUnavailable, DatabaseError, InvalidDatabaseUrl) as error:
        print(f"migrate failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"applied: {', '.join(applied)}" if applied else "the schema is up to date: nothing to apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
