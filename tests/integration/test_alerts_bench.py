"""`make bench ARGS="--alerts"`'s code path, scaled down (the bench runs 10,000 tenders x 100,000 subscriptions): the
indexed match finds the very pairs the cross join of every tender and subscription finds, what the run planned is
delivered, and its steps hold at most two connections. No timing: machines are noisy."""

from local.bench import CONNECTIONS_TARGET
from local.bench.alerts import bench_alerts


def test_the_alerts_bench_matches_as_the_cross_join_does_on_at_most_two_connections(database_url):
    figures = bench_alerts(database_url, size=200, subscriptions=2_000, deliveries=50)

    assert figures.tenders == 200
    assert figures.cross_join_tenders == 100
    assert figures.cross_join_pairs > 0
    assert figures.agree
    assert figures.indexed_pairs == figures.cross_join_pairs
    assert figures.notices >= figures.indexed_pairs
    # The pairs the matching query finds before it writes them are the notices it writes.
    assert figures.pairs == figures.notices
    assert figures.planned == figures.delivered == figures.emails + figures.webhooks == 50
    assert figures.emails > 0
    assert figures.webhooks > 0
    assert figures.connection_samples > 0
    assert 1 <= figures.peak_connections <= CONNECTIONS_TARGET
