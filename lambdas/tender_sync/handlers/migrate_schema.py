"""MigrateSchema: the schema's migrations applied at deploy, by a CDK trigger, as the schema's owner (the owner's
secret, DatabaseOwnerSecret). Until that secret holds a PostgreSQL URL it applies nothing and says so, so that
the first deploy, before the database is set, goes through; `make migrate ARGS="--stack NAME"` applies them then."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import aws, settings
from tender_sync.handlers.observability import logger, tracer
from tender_sync.storage import database, migrations

OWNER = settings.from_env(settings.OwnerSettings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    url = aws.secret_string(OWNER.database_owner_secret_arn)
    if not database.is_database_url(url):
        logger.warning("the owner's secret holds no PostgreSQL URL yet: no migration applied")
        return {"applied": [], "configured": False}
    with database.connect(url) as conn:
        applied = migrations.migrate(conn)
    logger.info("schema migrated", extra={"applied": applied})
    return {"applied": applied, "configured": True}
