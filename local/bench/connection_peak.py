"""The most PostgreSQL connections the sync's functions held at once, sampled from pg_stat_activity."""

import threading
import time

import psycopg

# What tender_sync.db.connect names every connection it opens.
SYNC_APPLICATION_NAME = "tender-sync"


class ConnectionPeak:
    """Counts the database's `tender-sync` connections every `interval` seconds on a background thread,
    from entering the block until leaving it. Its own connection is named otherwise, so it is not counted; nor are
    the parallel workers a query may start, which carry their connection's name but are no connections."""

    def __init__(
        self, database_url: str, interval: float = 0.005, application_name: str = SYNC_APPLICATION_NAME
    ) -> None:
        self.database_url, self.interval, self.application_name = database_url, interval, application_name
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="connection-peak", daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> "ConnectionPeak":
        # Connect here, so that a bad URL fails the caller rather than a thread nobody watches.
        self._conn = psycopg.connect(self.database_url, autocommit=True, application_name="connection-peak")
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()
        if self._error is not None:
            raise RuntimeError("sampling pg_stat_activity failed") from self._error

    def _sample(self) -> None:
        # Autocommit: each query is its own transaction, so each sees a fresh pg_stat_activity.
        query = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s AND backend_type = 'client backend'"
        )
        try:
            while not self._stop.is_set():
                [(count,)] = self._conn.execute(query, (self.application_name,)).fetchall()
                self.peak = max(self.peak, count)
                self.samples += 1
                time.sleep(self.interval)
        except BaseException as error:  # noqa: BLE001 - reported by __exit__
            self._error = error
