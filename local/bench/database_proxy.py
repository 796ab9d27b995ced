"""A TCP proxy in front of a PostgreSQL that can take the database away, connection by connection, or put a
network between it and its clients (a round-trip time, as between a Lambda and a database in another zone).

Each new connection gets a number (1, 2, ...) and `fault_for(number)` decides its fate:
- None: forwarded both ways until either side closes;
- "refuse": closed at once, as a database that is down or restarting answers;
- "cut": forwarded until the client has sent CUT_AFTER_BYTES, then closed mid-conversation (mid-transaction
  for a step that writes much, such as UpsertTenders' COPY).
"""

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

from psycopg.conninfo import conninfo_to_dict, make_conninfo

CUT_AFTER_BYTES = 16 * 1024


class DatabaseProxy:
    def __init__(
        self,
        database_url: str,
        fault_for: Callable[[int], str | None] = lambda number: None,
        round_trip_seconds: float = 0.0,
    ) -> None:
        self.fault_for = fault_for
        # Each direction waits half the round trip before passing a chunk on.
        self._one_way_delay = round_trip_seconds / 2
        self.faults: Counter[str] = Counter()
        self.connections = 0
        params = conninfo_to_dict(database_url)
        host, port = str(params.get("host") or "localhost"), int(params.get("port") or 5432)
        # pgserver listens on a Unix socket in its data folder; a DATABASE_URL may name a TCP server.
        self._target = (
            (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/") else (socket.AF_INET, (host, port))
        )
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = make_conninfo(
            database_url,
            host="127.0.0.1",
            port=self._listener.getsockname()[1],
            sslmode="disable",
            gssencmode="disable",
        )
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = False

    def __enter__(self) -> "DatabaseProxy":
        threading.Thread(target=self._accept, name="database-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._open:
                _close(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                fault = self.fault_for(self.connections)
                if fault:
                    self.faults[fault] += 1
            if fault == "refuse":
                _close(client)
                continue
            server = socket.socket(self._target[0], socket.SOCK_STREAM)
            server.connect(self._target[1])
            # As libpq does on its own socket: no Nagle delay on small messages.
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._target[0] == socket.AF_INET:
                server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.update((client, server))
            limit = CUT_AFTER_BYTES if fault == "cut" else None
            threading.Thread(target=self._pump, args=(client, server, limit), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while limit is None or sent < limit:
                data = source.recv(65536 if limit is None else min(65536, limit - sent))
                if not data:
                    break
                if self._one_way_delay:
                    time.sleep(self._one_way_delay)
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.difference_update((source, target))
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
