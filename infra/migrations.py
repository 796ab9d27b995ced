"""The schema's migrations at deploy: a CDK trigger runs MigrateSchema (as the schema's owner) whenever the code
asset, and so the migrations in it, changes. A migration that fails fails the deploy, not the workflows' first
steps; the state machines are updated only after it."""

from aws_cdk import Duration, triggers
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class SchemaMigrations(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        self.trigger = triggers.Trigger(
            self, "Trigger", handler=function, execute_on_handler_change=True, timeout=Duration.minutes(5)
        )

    def before(self, *constructs: Construct) -> None:
        """These are created or updated only once the migrations are applied."""
        self.trigger.execute_before(*constructs)
