"""A window of thousands of tenders through the synthesized state machine: within the Step Functions
quotas, every tender stored, and never more than two database connections. (The 10,000-tender runs,
and the timings, are `make bench`'s.)"""

from datetime import date, timedelta
from typing import Any

import pytest

from local.bench.connection_peak import ConnectionPeak
from local.engine.stack import MAX_HISTORY_EVENTS, MAX_PAYLOAD_BYTES
from local.sample_source.server import SampleSource
from tests.helpers import not_none
from tests.helpers.local_stack import Sync, local_sync

pytestmark = pytest.mark.slow

TENDERS = 2_000


def largest_payload(history: list[dict[str, Any]]) -> int:
    """The largest state input or output in the history, in bytes."""
    return max(
        len(str(details.get(key) or "").encode())
        for event in history
        for details in event.values()
        if isinstance(details, dict)
        for key in ("input", "output")
    )


@pytest.mark.xdist_group("scale")
def test_a_window_of_thousands_of_tenders_stays_within_the_quotas_on_two_connections(template, database_url):
    with SampleSource(count=TENDERS) as source:
        days = sorted({release["date"][:10] for release in source.releases})
        window = {"from": days[0], "to": (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()}
        with local_sync(template, database_url, source.url, source.url) as local:
            sync = Sync(local, template, database_url)
            with ConnectionPeak(database_url) as connections:
                execution = sync.run(**window, maxEnrichment=TENDERS)

    # Execution came back from the runner, so its quota checks passed; the history says so too.
    assert execution.status == "SUCCEEDED", execution.cause
    lookups = not_none(execution.output)["lookups"]["tenders"]
    assert lookups == TENDERS // 2  # every tender of the older release shape was looked up
    assert len(execution.history) < MAX_HISTORY_EVENTS
    assert len(execution.history) < lookups  # the Map's items run outside the execution's history
    assert largest_payload(execution.history) < MAX_PAYLOAD_BYTES // 16

    [counts] = sync.query(
        "SELECT count(*) AS stored, count(*) FILTER (WHERE enrichment_status = 'enriched') AS enriched FROM tenders"
    )
    assert counts["stored"] == counts["enriched"] == len(source.latest_by_ocid()) == TENDERS

    assert connections.samples > 0
    assert 1 <= connections.peak <= 2
