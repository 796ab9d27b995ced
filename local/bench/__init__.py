"""Measurements: how the sync scales (`make bench`), what it costs on AWS (`make cost`), and their instruments."""

# The most PostgreSQL connections a run's functions may hold at once.
CONNECTIONS_TARGET = 2


def met(ok: bool) -> str:
    return "met" if ok else "NOT MET"
