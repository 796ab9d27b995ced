"""A busy window is read whole even when the listing's order changes on every request, as the real API's does:
4,000 tenders over 3 days (more releases a day than one page holds) stored in one run."""

from datetime import date

import pytest

from local.sample_source.faults import Faults
from local.sample_source.server import SampleSource
from tests.helpers import not_none
from tests.helpers.local_stack import Sync, local_sync

pytestmark = pytest.mark.slow

START, DAYS, TENDERS = date(2025, 9, 1), 3, 4_000


@pytest.mark.xdist_group("scale")
def test_a_busy_window_with_shifting_pages_is_stored_whole_in_one_run(template, database_url):
    with SampleSource(start=START, days=DAYS, count=TENDERS, faults=Faults(unstable_paging=True)) as source:
        busiest = max(len(source.releases_listed_on(date(2025, 9, 1 + n))) for n in range(DAYS))
        assert busiest > 1_000  # more than the first page the client asks for
        with local_sync(template, database_url, source.url, source.url) as local:
            sync = Sync(local, template, database_url)
            execution = sync.run(**{"from": "2025-09-01", "to": "2025-09-06"}, maxEnrichment=0)

    assert execution.status == "SUCCEEDED", execution.cause
    assert not_none(execution.output)["fetch"]["fetched"] == len(source.releases)
    stored = {row["ocid"]: row["release_id"] for row in sync.query("SELECT ocid, release_id FROM tenders")}
    assert stored == {ocid: release["id"] for ocid, release in source.latest_by_ocid().items()}
    assert len(stored) == TENDERS
    [job] = sync.query("SELECT status, fetched, upserted FROM job_log")
    assert job == {"status": "SUCCESS", "fetched": len(source.releases), "upserted": TENDERS}
