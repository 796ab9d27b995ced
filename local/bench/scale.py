"""`make bench`: how the sync scales, measured in one run on this machine.

For N tenders of the sample source (--size, default 10,000) it prints:
1. the upsert's throughput (store_tenders into a fresh database), against a plain COPY of the same rows
   into an empty, unindexed table (target >= 0.5) and a loop of per-row INSERT ... ON CONFLICT (target >= 20x),
   over the local Unix socket and through a proxy adding a network round trip (--round-trip-ms);
2. an end-to-end local sync of the N tenders through the synthesized state machine, the portal answering
   each lookup after a fixed latency, at two Map concurrencies: wall time, tenders/s, and the ratio to the
   latency bound (lookups x latency / MaxConcurrency);
3. the most PostgreSQL connections each of those syncs held at once, from pg_stat_activity (target <= 2);
4. the FetchReleases handler's peak RSS for a 50,000-release window, against its configured MemorySize.
The last line sums it all up, each target met or not. Timed figures are the best of a few runs: the
machine is shared, and the best run is the one least disturbed.

With --alerts it measures the alerts instead, for a window of N tenders against --subscriptions
(local/bench/alerts.py).
"""

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from infra.stack import synth_template
from local.bench import CONNECTIONS_TARGET, alerts, met
from local.bench.connection_peak import SYNC_APPLICATION_NAME, ConnectionPeak
from local.bench.database_proxy import DatabaseProxy
from local.engine.database import fresh_database, local_database_url
from local.engine.stack import LocalStack
from local.engine.template import definition
from local.sample_source.server import SampleSource
from local.toolchain import ROOT
from tender_sync.source.normalize import normalize_release
from tender_sync.storage import migrations
from tender_sync.storage.tenders import COLUMNS, ON_CONFLICT_NEWER, copy_row, store_tenders
from tender_sync.workflows import SYNC

REPEATS = 3
MAX_ENRICHMENT = 10_000  # the highest maxEnrichment a sync accepts (SyncRequest)
RELEASES_PER_TENDER = 1.1  # the sample source gives every tenth tender a second release
MOTO_MS_PER_MAP_ITEM = 10  # docs/performance-and-cost.md (The sync at scale): the interpreter's own cost per Map item
FETCH_FUNCTION_HANDLER = "tender_sync.handlers.fetch_releases.handler"
MIB = 1024 * 1024

UPSERT_VS_COPY_TARGET = 0.5
UPSERT_VS_LOOP_TARGET = 20

ROW_UPSERT_SQL = (
    f"INSERT INTO tenders ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) {ON_CONFLICT_NEWER}"
)


def sync_window(source: SampleSource) -> tuple[date, date]:
    """The half-open window holding every release of the source."""
    days = sorted({release["date"][:10] for release in source.releases})
    return date.fromisoformat(days[0]), date.fromisoformat(days[-1]) + timedelta(days=1)


# -- 1. the upsert ---------------------------------------------------------------------------------


@dataclass
class UpsertFigures:
    rows: int
    tenders: int
    upsert_seconds: float
    copy_seconds: float
    loop_seconds: float  # per-row statements, each committed on its own: how a per-tender writer works
    loop_one_transaction_seconds: float  # per-row statements inside one transaction
    round_trip_seconds: float  # added between the client and the database; 0 = the local Unix socket
    measured_round_trip_seconds: float  # what a `SELECT 1` took, median

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.upsert_seconds

    @property
    def vs_copy(self) -> float:
        """The upsert's throughput as a fraction of the plain COPY's."""
        return self.copy_seconds / self.upsert_seconds

    @property
    def vs_loop(self) -> float:
        """How many times faster than the per-row loop."""
        return self.loop_seconds / self.upsert_seconds

    @property
    def vs_loop_one_transaction(self) -> float:
        return self.loop_one_transaction_seconds / self.upsert_seconds


def plain_copy(conn: psycopg.Connection, tenders: list[dict[str, Any]]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY plain_copy ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for tender in tenders:
            copy.write_row(copy_row(tender))


def row_by_row(conn: psycopg.Connection, tenders: list[dict[str, Any]], commit_each: bool) -> None:
    with conn.cursor() as cur:
        for tender in tenders:
            cur.execute(ROW_UPSERT_SQL, copy_row(tender))
            if commit_each:
                conn.commit()


def bench_upsert(server_url: str, tenders: list[dict[str, Any]], round_trip_seconds: float) -> UpsertFigures:
    ways: dict[str, tuple[str, Callable[[psycopg.Connection], Any]]] = {
        "upsert": ("TRUNCATE tenders CASCADE", lambda conn: store_tenders(conn, "bench", tenders)),
        "copy": ("TRUNCATE plain_copy", lambda conn: plain_copy(conn, tenders)),
        "loop": ("TRUNCATE tenders CASCADE", lambda conn: row_by_row(conn, tenders, commit_each=True)),
        "loop_one_transaction": ("TRUNCATE tenders CASCADE", lambda conn: row_by_row(conn, tenders, commit_each=False)),
    }
    best = dict.fromkeys(ways, float("inf"))
    with (
        fresh_database(server_url) as url,
        DatabaseProxy(url, round_trip_seconds=round_trip_seconds) as network,
        psycopg.connect(network.url if round_trip_seconds else url) as conn,
    ):
        migrations.migrate(conn)
        measured_round_trip = median_round_trip(conn)
        conn.execute("CREATE TABLE plain_copy (LIKE tenders INCLUDING DEFAULTS)")  # no keys, no indexes
        conn.commit()
        for _ in range(REPEATS):
            for name, (reset, work) in ways.items():
                conn.execute(reset)
                conn.commit()
                started = time.perf_counter()
                work(conn)
                conn.commit()
                best[name] = min(best[name], time.perf_counter() - started)
    unique = len({tender["ocid"] for tender in tenders})
    return UpsertFigures(
        len(tenders),
        unique,
        best["upsert"],
        best["copy"],
        best["loop"],
        best["loop_one_transaction"],
        round_trip_seconds,
        measured_round_trip,
    )


def median_round_trip(conn: psycopg.Connection, samples: int = 101) -> float:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        conn.execute("SELECT 1").fetchone()
        timings.append(time.perf_counter() - started)
    conn.commit()
    return sorted(timings)[samples // 2]


def upsert_tenders(size: int) -> list[dict[str, Any]]:
    """What UpsertTenders hands store_tenders: every release of the window, normalized."""
    return [
        normalize_release(release).model_dump(mode="json") for release in SampleSource(count=size, fixed=True).releases
    ]


def report_upsert(figures: UpsertFigures) -> None:
    link = (
        f"through a TCP proxy adding a {figures.round_trip_seconds * 1000:g} ms round trip (as to a database in "
        f"another zone)"
        if figures.round_trip_seconds
        else "over the local Unix socket"
    )
    link += f"; a SELECT 1 takes {figures.measured_round_trip_seconds * 1000:.2f} ms"
    print(
        f"1. upsert: {figures.rows:,} rows ({figures.tenders:,} tenders) into an empty table of a fresh database, "
        f"{link}, best of {REPEATS}"
    )
    print(
        f"   store_tenders                    {figures.upsert_seconds:6.2f} s  {figures.rows_per_second:9,.0f} rows/s"
    )
    print(
        f"   plain COPY, unindexed table      {figures.copy_seconds:6.2f} s  upsert/COPY throughput "
        f"{figures.vs_copy:.2f} (target >= {UPSERT_VS_COPY_TARGET}: {met(figures.vs_copy >= UPSERT_VS_COPY_TARGET)})"
    )
    print(
        f"   per-row INSERT ... ON CONFLICT, a commit per row (as a per-tender writer does)\n"
        f"                                    {figures.loop_seconds:6.2f} s  upsert is {figures.vs_loop:.1f}x faster "
        f"(target >= {UPSERT_VS_LOOP_TARGET}x: {met(figures.vs_loop >= UPSERT_VS_LOOP_TARGET)})"
    )
    print(
        f"   per-row INSERT ... ON CONFLICT, all in one transaction\n"
        f"                                    {figures.loop_one_transaction_seconds:6.2f} s  "
        f"upsert is {figures.vs_loop_one_transaction:.1f}x faster (the floor: same work, no commits)",
        flush=True,
    )


# -- 2, 3. the sync and its connections -------------------------------------------------------------


@dataclass
class SyncFigures:
    max_concurrency: int
    tenders: int
    lookups: int
    latency: float
    seconds: float
    step_seconds: dict[str, float]
    peak_connections: int
    connection_samples: int

    @property
    def tenders_per_second(self) -> float:
        return self.tenders / self.seconds

    @property
    def latency_bound(self) -> float:
        """The least time the lookups can take: each waits `latency`, MaxConcurrency at a time."""
        return self.lookups * self.latency / self.max_concurrency

    @property
    def vs_latency_bound(self) -> float:
        return self.seconds / self.latency_bound

    @property
    def ms_per_lookup(self) -> float:
        """The Map's time per item: the most it could be, were latency the only limit, is latency / MaxConcurrency."""
        return self.step_seconds["LookUpTenders"] / self.lookups * 1000


def look_up_tenders_max_concurrency(template: dict[str, Any]) -> int:
    """MaxConcurrency as the synthesized definition has it."""
    machine = json.loads(definition(template, SYNC.state_machine_id(template)))
    return machine["States"]["LookUpTenders"]["MaxConcurrency"]


def step_seconds(history: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds from entering each state to leaving it."""
    entered, seconds = {}, {}
    for event in history:
        if "stateEnteredEventDetails" in event:
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            seconds[name] = (event["timestamp"] - entered[name]).total_seconds()
    return seconds


def bench_sync(server_url: str, source: SampleSource, template: dict[str, Any]) -> SyncFigures:
    date_from, date_to = sync_window(source)
    execution_input = {
        "triggeredBy": "make bench",
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        # Enough to look up every tender that needs it (the older release shape).
        "maxEnrichment": min(len(source.portal_rows), MAX_ENRICHMENT),
    }
    with fresh_database(server_url) as url:
        # The schema as `make migrate` leaves it: the sync's first step only checks that it is current.
        with psycopg.connect(url) as conn:
            migrations.migrate(conn)
        environment = {
            "DATABASE_URL": url,
            "OCDS_BASE_URL": source.url,
            "PORTAL_BASE_URL": source.url,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        with LocalStack(template, environment) as local, ConnectionPeak(url) as peak:
            execution = local.execute(SYNC.state_machine_id(template), execution_input)
        if execution.status != "SUCCEEDED" or execution.output is None:
            raise RuntimeError(f"the sync ended {execution.status}: {execution.cause}")
        with psycopg.connect(url) as conn:
            [(stored,)] = conn.execute("SELECT count(*) FROM tenders").fetchall()
    if stored != len(source.latest_by_ocid()):
        raise RuntimeError(f"the sync stored {stored} tenders of {len(source.latest_by_ocid())}")
    return SyncFigures(
        max_concurrency=look_up_tenders_max_concurrency(template),
        tenders=stored,
        lookups=execution.output["lookups"]["tenders"],
        latency=source.portal_latency,
        seconds=execution.seconds,
        step_seconds=step_seconds(execution.history),
        peak_connections=peak.peak,
        connection_samples=peak.samples,
    )


def report_sync(figures: SyncFigures) -> None:
    steps = figures.step_seconds
    print(
        f"   MaxConcurrency {figures.max_concurrency}: {figures.seconds:.1f} s, {figures.tenders_per_second:.0f} tenders/s "
        f"(FetchReleases {steps['FetchReleases']:.1f} s, LookUpTenders {steps['LookUpTenders']:.1f} s, "
        f"UpsertTenders {steps['UpsertTenders']:.1f} s)\n"
        f"      latency bound {figures.latency_bound:.1f} s, ratio {figures.vs_latency_bound:.1f}: the Map took "
        f"{figures.ms_per_lookup:.0f} ms per lookup against {figures.latency * 1000 / figures.max_concurrency:.2g} ms of "
        f"latency per lookup at this concurrency",
        flush=True,
    )


def report_connections(syncs: list[SyncFigures]) -> None:
    peaks = ", ".join(
        f"{s.peak_connections} at MaxConcurrency {s.max_concurrency} ({s.connection_samples:,} samples)" for s in syncs
    )
    worst = max(s.peak_connections for s in syncs)
    print(
        f"3. peak PostgreSQL connections the syncs held (pg_stat_activity, application_name '{SYNC_APPLICATION_NAME}'): "
        f"{peaks} (target <= {CONNECTIONS_TARGET}: {met(worst <= CONNECTIONS_TARGET)})",
        flush=True,
    )


# -- 4. the fetch handler's memory ------------------------------------------------------------------


@dataclass
class FetchFigures:
    releases: int
    tenders: int
    tenders_bytes: int
    peak_rss_bytes: int
    peak_rss_before_assembly_bytes: int | None  # None: the window fit in one part, so nothing was assembled
    memory_size_mb: int

    @property
    def within_memory(self) -> bool:
        return self.peak_rss_bytes < self.memory_size_mb * MIB


def fetch_memory_size(template: dict[str, Any]) -> int:
    [function] = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == FETCH_FUNCTION_HANDLER
    ]
    return function["Properties"]["MemorySize"]


def bench_fetch_memory(releases: int, template: dict[str, Any]) -> FetchFigures:
    """The real handler in a fresh interpreter (local.bench.fetch_memory), so that its peak RSS is its own."""
    with SampleSource(count=round(releases / RELEASES_PER_TENDER), fixed=True) as source:
        date_from, date_to = sync_window(source)
        child = subprocess.run(
            [sys.executable, "-m", "local.bench.fetch_memory", source.url, date_from.isoformat(), date_to.isoformat()],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    if child.returncode != 0:
        raise RuntimeError(f"the fetch failed:\n{child.stderr}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return FetchFigures(
        releases=result["fetched"],
        tenders=result["tenders"],
        tenders_bytes=result["tendersBytes"],
        peak_rss_bytes=result["peakRssBytes"],
        peak_rss_before_assembly_bytes=result["peakRssBeforeAssemblyBytes"],
        memory_size_mb=fetch_memory_size(template),
    )


def report_fetch(figures: FetchFigures) -> None:
    print(
        f"4. fetch: {figures.releases:,} releases ({figures.tenders:,} tenders, {figures.tenders_bytes / MIB:,.0f} MiB "
        f"of tenders.jsonl) -> peak RSS {figures.peak_rss_bytes / MIB:,.0f} MiB; FetchReleases MemorySize "
        f"{figures.memory_size_mb} MiB (target: under it: {met(figures.within_memory)})"
    )
    if figures.peak_rss_before_assembly_bytes is not None:
        print(
            f"   that includes moto's S3, in the same process, assembling the object in memory when the multipart "
            f"upload completes (S3 itself costs the Lambda nothing): just before that, "
            f"{figures.peak_rss_before_assembly_bytes / MIB:,.0f} MiB",
            flush=True,
        )


# -- the run ----------------------------------------------------------------------------------------


def summary(size: int, upserts: list[UpsertFigures], syncs: list[SyncFigures], fetch: FetchFigures) -> str:
    peaks = [s.peak_connections for s in syncs]
    parts = [
        f"N={size:,}",
        *(
            f"upsert@{u.round_trip_seconds * 1000:g}ms {u.rows_per_second:,.0f} rows/s, {u.vs_copy:.2f} of COPY "
            f"(>= {UPSERT_VS_COPY_TARGET} {met(u.vs_copy >= UPSERT_VS_COPY_TARGET)}), {u.vs_loop:.1f}x per-row "
            f"(>= {UPSERT_VS_LOOP_TARGET}x {met(u.vs_loop >= UPSERT_VS_LOOP_TARGET)})"
            for u in upserts
        ),
        *(
            f"sync@{s.max_concurrency} {s.seconds:.0f} s, {s.tenders_per_second:.0f} tenders/s, "
            f"{s.vs_latency_bound:.1f}x the latency bound"
            for s in syncs
        ),
        f"peak connections {'/'.join(map(str, peaks))} (<= {CONNECTIONS_TARGET} {met(max(peaks) <= CONNECTIONS_TARGET)})",
        f"fetch RSS {fetch.peak_rss_bytes / MIB:,.0f} of {fetch.memory_size_mb} MiB for {fetch.releases:,} releases "
        f"({met(fetch.within_memory)})",
    ]
    return "summary: " + " | ".join(parts)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size",
        type=int,
        default=10_000,
        help="tenders in the upsert and the sync, or in the --alerts change event (default 10,000)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the portal takes per lookup (default 0.05)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[10, 40],
        help="Map MaxConcurrency values to sync at, as context mapMaxConcurrency (default: 10 40)",
    )
    parser.add_argument(
        "--round-trip-ms",
        type=float,
        nargs="+",
        default=[0, 1],
        help="round trips to put between the upsert and the database, 0 = the Unix socket (default: 0 1)",
    )
    parser.add_argument(
        "--fetch-releases", type=int, default=50_000, help="releases in the fetch memory run (default 50,000)"
    )
    parser.add_argument(
        "--alerts",
        action="store_true",
        help="measure the alerts instead: a window of --size tenders matched and delivered",
    )
    parser.add_argument(
        "--subscriptions",
        type=int,
        default=alerts.SUBSCRIPTIONS,
        help=f"subscriptions the --alerts window is matched against (default {alerts.SUBSCRIPTIONS:,})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    server_url = local_database_url()
    print(f"make bench, {datetime.now().astimezone():%Y-%m-%d %H:%M}, N = {args.size:,} tenders", flush=True)
    if args.alerts:
        figures = alerts.run(server_url, args.size, args.subscriptions)
        alerts.report(figures)
        print(alerts.summary(figures))
        return 0

    tenders = upsert_tenders(args.size)
    upserts = [bench_upsert(server_url, tenders, rtt_ms / 1000) for rtt_ms in args.round_trip_ms]
    for upsert in upserts:
        report_upsert(upsert)

    # The rate set high enough that the portal's latency binds, not the politeness bound.
    templates = [
        synth_template(context={"mapMaxConcurrency": c, "portalRequestsPerSecond": 10_000}) for c in args.concurrency
    ]
    syncs = []
    with SampleSource(count=args.size, portal_latency=args.latency, fixed=True) as source:
        print(
            f"2. sync: {args.size:,} tenders ({len(source.releases):,} releases) through the synthesized state machine, "
            f"portal latency {args.latency * 1000:.0f} ms per lookup\n"
            f"   ratio = wall time / latency bound (lookups x latency / MaxConcurrency), 1.0 were the portal's latency "
            f"all that limits a run (no target: a figure to watch). Locally each Map item also costs the interpreter "
            f"~{MOTO_MS_PER_MAP_ITEM} ms "
            f"(docs/performance-and-cost.md), and the handlers, S3 and the source share one process",
            flush=True,
        )
        for template in templates:
            syncs.append(bench_sync(server_url, source, template))
            report_sync(syncs[-1])
    report_connections(syncs)

    fetch = bench_fetch_memory(args.fetch_releases, templates[0])
    report_fetch(fetch)

    print(summary(args.size, upserts, syncs, fetch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
