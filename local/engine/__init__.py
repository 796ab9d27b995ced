"""The synthesized stack run on this machine: template resolution, the local stack over moto, the local
PostgreSQL, and one workflow run as `make run` and the CLI show it."""
