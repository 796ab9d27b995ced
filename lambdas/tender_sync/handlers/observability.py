"""What every handler shares: one Logger and one Tracer (Powertools), and `step`, which wraps a handler in both
and parses its event with the step's model before anything else."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from tender_sync import aws

logger = Logger()
tracer = Tracer()

Event = TypeVar("Event", bound=BaseModel)
Handler = Callable[[Any, LambdaContext], Any]

# Where a step's event holds the execution id, logged as the correlation id: a first step gets it beside the
# input, a later step in its job. A Map item carries none.
FIRST_STEP = "executionId"
LATER_STEP = "job.executionId"


def step(model: type[Event], correlation_id_path: str | None = LATER_STEP) -> Callable[[Handler], Handler]:
    """The handler logged (with its correlation id), traced, and given its event parsed as `model`."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def named_failures(event: Any, context: LambdaContext) -> Any:
            try:
                return handler(event, context)
            except aws.UNREACHABLE as error:
                raise aws.unreachable(error) from None

        parsed = event_parser(model=model)(named_failures)
        traced = tracer.capture_lambda_handler(parsed)
        if correlation_id_path is None:
            return logger.inject_lambda_context(traced)
        return logger.inject_lambda_context(traced, correlation_id_path=correlation_id_path)

    return wrap
