"""Database connection metrics of this process (issue 16, "database pool use").

Each thread that touches the database keeps its own connection (``CONN_MAX_AGE``,
securechat/settings.py), so the process's pool is the set of those connections. At
scrape time the collector counts the ones open now, ``in_use`` (inside a transaction)
or ``idle``; ``securechat_db_connections_opened_total`` counts every connection
made, so a rate near zero under load shows that connections are reused, not opened per
call. Read at scrape time from live objects: nothing runs per query.
"""

from __future__ import annotations

import threading
import weakref

from django.db.backends.signals import connection_created
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily

OPENED = Counter("securechat_db_connections_opened_total",
                 "Database connections opened by this process.", ["vendor"])

_wrappers: weakref.WeakSet = weakref.WeakSet()  # one per thread and alias; gone with it
_lock = threading.Lock()


def _on_connection_created(sender, connection, **kwargs) -> None:
    OPENED.labels(connection.vendor).inc()
    with _lock:
        _wrappers.add(connection)


def connection_states() -> dict[tuple[str, str], int]:
    """``{(vendor, "in_use" | "idle"): open connections}`` of this process, now."""
    counts: dict[tuple[str, str], int] = {}
    with _lock:
        wrappers = list(_wrappers)
    for wrapper in wrappers:
        if wrapper.connection is None:  # closed (or never reopened after a close)
            continue
        state = "in_use" if wrapper.in_atomic_block else "idle"
        counts[(wrapper.vendor, state)] = counts.get((wrapper.vendor, state), 0) + 1
    return counts


class ConnectionCollector:
    def collect(self):
        family = GaugeMetricFamily(
            "securechat_db_connections",
            "Database connections open in this process: in_use (in a transaction) or idle.",
            labels=["vendor", "state"])
        counts = connection_states()
        from django.db import connection

        for state in ("in_use", "idle"):  # both series always, zero included
            counts.setdefault((connection.vendor, state), 0)
        for (vendor, state), value in sorted(counts.items()):
            family.add_metric([vendor, state], value)
        yield family


_registered = False


def register() -> None:
    """Count connections from now on and serve the gauge (once per process)."""
    global _registered
    if _registered:
        return
    connection_created.connect(_on_connection_created, dispatch_uid="securechat.dbmetrics")
    REGISTRY.register(ConnectionCollector())
    _registered = True
