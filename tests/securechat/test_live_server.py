"""The same application serves under uvicorn and daphne, with a strict websocket origin check."""

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.support.clients import recv_json, ws_connect

SERVERS = ["uvicorn", "daphne"]


@pytest.mark.parametrize("kind", SERVERS)
def test_health_endpoint_reports_database_redis_and_storage(start_shared_server, kind):
    """GET /api/v1/health answers 200 with every component ok on a live server."""
    server = start_shared_server(kind)  # one per kind for the module
    response = httpx.get(server.url + "/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "storage": "ok"}


@pytest.mark.parametrize("kind", SERVERS)
async def test_websocket_handshake_from_the_site_origin(start_shared_server, kind):
    """A same-origin handshake is accepted; without a session the socket is then closed 4401."""
    server = start_shared_server(kind)  # one per kind for the module
    async with ws_connect(server.ws_url, origin=server.origin) as ws:
        assert ws.response.status_code == 101
        with pytest.raises(Exception):  # noqa: B017 - the close arrives as an exception
            await recv_json(ws)
        assert ws.close_code == 4401


@pytest.mark.parametrize("kind", SERVERS)
async def test_websocket_foreign_origins_are_refused(start_shared_server, kind):
    """Another site, another port, another scheme or no Origin at all: the handshake gets 403."""
    server = start_shared_server(kind)  # one per kind for the module
    other_port = server.port + 1 if server.port < 65535 else server.port - 1
    for origin in ["https://evil.example", f"http://127.0.0.1:{other_port}",
                   f"https://127.0.0.1:{server.port}", "null", None]:
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(server.ws_url, origin=origin):
                pass
        assert refused.value.response.status_code == 403, origin


async def test_websocket_scheme_must_match_an_https_site(start_server):
    """For an https:// site, an http:// origin on the same host is refused and https:// accepted."""
    server = start_server("uvicorn", SECURECHAT_ORIGINS="https://chat.example.test",
                          ALLOWED_HOSTS="127.0.0.1,chat.example.test")
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(server.ws_url, origin="http://chat.example.test"):
            pass
    assert refused.value.response.status_code == 403
    async with ws_connect(server.ws_url, origin="https://chat.example.test") as ws:
        assert ws.response.status_code == 101
