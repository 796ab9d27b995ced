#!/usr/bin/env python3
from aws_cdk import App

from infra.checks import add_checks
from infra.config import StackConfig
from infra.stack import TenderSyncStack

app = App()
add_checks(app)
config = StackConfig.from_context(app.node)
TenderSyncStack(app, config.stack_name, config=config)
app.synth()
