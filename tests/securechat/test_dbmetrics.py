"""Database pool use in the metrics (issue 16) and persistent connections (issue 13
"speed"), measured on a live server: sends over a v2 socket reuse the connection the
process holds (it shows as idle between scrapes, and the opened counter stays put),
where ``SECURECHAT_DB_CONN_MAX_AGE=0`` (the control) opens one per call and keeps none.
"""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect

from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.securechat.test_metrics import TOKEN, growth, scrape
from tests.support.v2chat import V2User, group_of

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits"), pytest.mark.dbsensitive]

SENDS = 6


def cookie_header(user) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in user.http.cookies.items())


def send_over_socket(server, sender, group, count: int) -> None:
    """``count`` send2 frames on one v2 socket, each waited for until its ack2."""
    with connect(server.ws_url, origin=server.origin,
                 additional_headers={"Cookie": cookie_header(sender)}) as ws:
        for i in range(count):
            body = group.message(sender, f"message {i}")
            ws.send(json.dumps({"type": "send2", "req_id": i, "conversation": group.hex,
                                **body}))
            while True:
                frame = json.loads(ws.recv(timeout=20))
                if frame.get("req_id") == i:
                    assert frame["type"] == "ack2", frame
                    break


def pool_growth(start_server, **env) -> tuple[float, dict]:
    alice, bob = V2User.signup("alice"), V2User.signup("bob")
    group = group_of(alice, bob)
    server = start_server("uvicorn", SECURECHAT_METRICS_TOKEN=TOKEN, **env)
    send_over_socket(server, alice, group, 1)  # the process's first use of the database
    before = scrape(server)
    send_over_socket(server, alice, group, SENDS)
    after = scrape(server)
    vendor = next(labels for name, labels in after
                  if name == "securechat_db_connections" and ("state", "idle") in labels)
    vendor = dict(vendor)["vendor"]
    opened = growth(before, after, "securechat_db_connections_opened_total", vendor=vendor)
    states = {state: after[("securechat_db_connections",
                            tuple(sorted({"vendor": vendor, "state": state}.items())))]
              for state in ("idle", "in_use")}
    return opened, states


def test_sends_reuse_the_connection_the_process_holds(start_server):
    opened, states = pool_growth(start_server)
    assert opened == 0
    assert states["idle"] >= 1 and states["in_use"] == 0


def test_control_without_reuse_each_call_opens_a_connection(start_server):
    opened, states = pool_growth(start_server, SECURECHAT_DB_CONN_MAX_AGE="0")
    assert opened >= SENDS  # one per database call at least: the metric sees it
    assert states["idle"] == 0  # each closed after its call
