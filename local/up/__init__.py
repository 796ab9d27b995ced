"""`make up`: the local stack as a long-running service (an AWS-compatible endpoint, schedules, alerts, a console),
over the engine's LocalStack."""
