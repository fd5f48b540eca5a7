"""Upload metrics (securechat.metrics, filestore/metrics.py): a scrape before and after
tus uploads grows by exactly the bytes the server accepted, and the in-progress gauge is
1 while a throttled PATCH streams in and 0 after it."""

from __future__ import annotations

import io
import threading
import time

import pytest

from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.throttle import ThrottlingProxy
from tests.filestore.v2_support import UPLOADS, age_file, tus_upload, v2_member
from tests.securechat.test_metrics import TOKEN, growth, scrape

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")

ACTIVE = ("securechat_active_uploads", ())


def test_upload_bytes_and_the_active_uploads_gauge(start_server):
    server = start_server("uvicorn", SECURECHAT_METRICS_TOKEN=TOKEN)
    alice = v2_member(server)
    small, _ = age_file(b"a" * 100_000)
    large, _ = age_file(b"b" * (3 * 1024 * 1024))
    before = scrape(server)
    tus_upload(alice, server, small, chunk_size=30_000)  # several PATCHes
    proxy = ThrottlingProxy(server.port, bytes_per_second=1024 * 1024)
    tus = alice.tus(server)
    tus.url = proxy.url + UPLOADS
    worker = threading.Thread(target=lambda: tus.uploader(
        file_stream=io.BytesIO(large), chunk_size=len(large) + 1, retries=0).upload())
    worker.start()
    during = []
    while worker.is_alive():
        during.append(scrape(server)[ACTIVE])
        time.sleep(0.1)
    worker.join()
    proxy.close()
    after = scrape(server)
    assert 1 in during, during
    assert growth(before, after, "securechat_upload_bytes_total") == len(small) + len(large)
    assert after[ACTIVE] == 0
