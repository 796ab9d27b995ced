#!/usr/bin/env python3
from aws_cdk import App

from infra.checks import add_checks
from infra.config import StackConfig
from infra.stack import STACK_ID, TenderSyncStack

app = App()
add_checks(app)
TenderSyncStack(app, STACK_ID, config=StackConfig.from_context(app.node))
app.synth()
