"""Constant memory in the browser (issue 14, must-show 4; DESIGN.md §6 "Upload", "Download").

Alice's chat page (the shell's file config: the encrypt Worker and the download Service
Worker) uploads files of 64 MiB and 256 MiB, made on disk, through "Attach a file", then
saves each through the Service Worker. While each transfer runs, a thread samples the RSS
of every process of the session's Chromium (the pytest process's descendants named
chrom*) every 50 ms, and the test samples, through CDP, `Runtime.getHeapUsage` (used
heap plus ArrayBuffer backing storage) of the page, the upload Worker and the Service
Worker. Growth is the peak minus the value just before the transfer (a Worker started
for the transfer counts from zero). Streaming means the 256 MiB peak exceeds the 64 MiB
one by less than 32 MiB everywhere and stays under 160 MiB. Positive control: the same
256 MiB collected into a Blob in the page (the engine's no-Service-Worker path) grows
some process by at least 200 MiB.

The upload does not meet it yet (docs/benchmarks.md "Browser memory (Chromium)"): the
test expects exactly that failure (``UploadMemoryGrows``, strict xfail), so it turns red
both when anything else breaks and when the upload is fixed (then drop the mark).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time

import psutil
import pytest

from tests.browser.file_pages import open_file_chat
from tests.browser.test_v2_chat import signup, start_conversation
from tests.browser.test_v2_file_messages import server  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.big]

MiB = 1024 * 1024
SIZES = (64 * MiB, 256 * MiB)
SLOPE = 32 * MiB  # most the 256 MiB peak may exceed the 64 MiB one by
CEILING = 160 * MiB  # most any growth may reach
CONTROL = 200 * MiB  # least the Blob-collecting control must grow by
SAMPLE_SECONDS = 0.05
TRANSFER_POLLS = 40 * 60 * 20  # 40 minutes of 50 ms polls: a loaded 2-core machine
ATTACH_INPUT = "#v2-attach"

ENTRY = """(name) => window.chat.engine.conversations.get(window.chat.engine.openId)
  .items.filter((i) => i.file && i.file.name === name).at(-1)"""
UPLOAD_STATE = f"(name) => ({ENTRY})(name)?.status ?? null"
DOWNLOAD_STATE = f"(name) => ({ENTRY})(name)?.download?.state ?? null"
# The no-Service-Worker path: the whole plaintext decrypted into a Blob kept by the page.
COLLECT_INTO_BLOB = f"""(name) => {{
  const engine = window.chat.engine;
  window.__collected = null;
  engine.downloadEntry(engine.openId, ({ENTRY})(name)).then((blob) => {{
    window.__collected = blob; }});
}}"""


def write_random_file(path, size: int) -> str:
    """Writes ``size`` random bytes to ``path`` a MiB at a time; their SHA-256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size // MiB):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def chromium_processes() -> list[psutil.Process]:
    """Every process of this run's Chromium: the pytest process's descendants (through
    Playwright's driver) whose name starts with "chrom"."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name().startswith("chrom"):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def process_label(process: psutil.Process) -> str:
    """"browser" or the process's --type (renderer, utility, zygote...), with its pid."""
    try:
        kind = next((a.split("=", 1)[1] for a in process.cmdline() if a.startswith("--type=")),
                    "browser")
    except psutil.NoSuchProcess:
        kind = "gone"
    return f"{kind} {process.pid}"


class RssSampler(threading.Thread):
    """Samples the RSS of every Chromium process every 50 ms until stopped: per process,
    the value at the start (or at first sight, for a process started meanwhile) and the
    peak."""

    def __init__(self):
        super().__init__(daemon=True)
        self.baseline: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._halt = threading.Event()
        self._labels: dict[int, str] = {}
        self._sample()

    def _sample(self) -> None:
        for process in chromium_processes():
            try:
                rss = process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            label = self._labels.setdefault(process.pid, process_label(process))
            self.baseline.setdefault(label, rss)
            self.peak[label] = max(self.peak.get(label, 0), rss)

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_SECONDS):
            self._sample()

    def growth(self) -> dict[str, int]:
        self._halt.set()
        self.join()
        return {label: self.peak[label] - self.baseline[label] for label in self.peak}


class Heaps:
    """`Runtime.getHeapUsage` (used + backing storage) of the page, through its own CDP
    session, and of its workers ("upload worker": the encrypt Worker; "service worker":
    the download Service Worker), attached through the browser's CDP session."""

    WORKERS = {"worker": "upload worker", "service_worker": "service worker"}

    def __init__(self, browser, page):
        self.page = page
        self.page_session = page.context.new_cdp_session(page)
        self.browser_session = browser.new_browser_cdp_session()
        self.sessions: dict[str, str] = {}  # CDP target id -> session id
        self.replies: dict[str, dict] = {}  # session id -> the last reply
        self.browser_session.on("Target.receivedMessageFromTarget", self._received)

    def _received(self, event) -> None:
        message = json.loads(event["message"])
        if message.get("id") == 1:
            self.replies[event["sessionId"]] = message

    def _worker_targets(self) -> list[tuple[str, str]]:
        targets = self.browser_session.send("Target.getTargets")["targetInfos"]
        return [(t["targetId"], self.WORKERS[t["type"]]) for t in targets
                if t["type"] in self.WORKERS]

    def _worker_heap(self, target: str) -> int | None:
        """One worker's heap through a non-flattened session (Playwright's CDPSession cannot
        address a child session); None when the worker has gone."""
        if target not in self.sessions:
            self.sessions[target] = self.browser_session.send(
                "Target.attachToTarget", {"targetId": target, "flatten": False})["sessionId"]
        session = self.sessions[target]
        self.replies.pop(session, None)
        try:
            self.browser_session.send("Target.sendMessageToTarget", {
                "sessionId": session,
                "message": json.dumps({"id": 1, "method": "Runtime.getHeapUsage"})})
        except Exception:  # noqa: BLE001 - the worker ended between listing and asking
            return None
        for _ in range(200):
            if session in self.replies:
                return heap_bytes(self.replies.pop(session)["result"])
            self.page.wait_for_timeout(5)
        return None

    def sample(self) -> dict[str, int]:
        """The heap of the page and of each live worker, by label."""
        out = {"page": heap_bytes(self.page_session.send("Runtime.getHeapUsage"))}
        for target, label in self._worker_targets():
            heap = self._worker_heap(target)
            if heap is not None:
                out[label] = max(out.get(label, 0), heap)
        return out


def heap_bytes(usage: dict) -> int:
    """Used JavaScript heap plus the ArrayBuffers' backing storage (Chromium 156's
    getHeapUsage reports both)."""
    return usage["usedSize"] + usage["backingStorageSize"]


def measure(heaps: Heaps, start, finished) -> dict[str, int]:
    """Runs ``start()``, then samples heaps until ``finished()`` is truthy (RSS sampled
    meanwhile in a thread); the growth of every process ("rss …") and heap ("heap …")."""
    before = heaps.sample()
    sampler = RssSampler()
    sampler.start()
    peaks = dict(before)
    start()
    for _ in range(TRANSFER_POLLS):
        for label, value in heaps.sample().items():
            peaks[label] = max(peaks.get(label, 0), value)
        if finished():
            break
        heaps.page.wait_for_timeout(SAMPLE_SECONDS * 1000)
    else:
        raise AssertionError("the transfer never finished")
    growth = {f"rss {label}": grown for label, grown in sampler.growth().items()}
    growth.update({f"heap {label}": peak - before.get(label, 0) for label, peak in peaks.items()})
    return growth


def finished_state(page, script: str, name: str, done: str) -> bool:
    state = page.evaluate(script, name)
    assert state != "failed", f"{name}: the transfer failed: {page.errors}"
    return state == done


def upload(page, heaps: Heaps, path) -> dict[str, int]:
    return measure(heaps, lambda: page.locator(ATTACH_INPUT).set_input_files(str(path)),
                   lambda: finished_state(page, UPLOAD_STATE, path.name, "sent"))


def download(page, heaps: Heaps, name: str, saved) -> dict[str, int]:
    """Saves ``name`` through the Service Worker to ``saved``; the growth while it ran."""
    clicked = {}

    def click():
        with page.expect_download(timeout=300_000) as info:
            page.get_by_role("button", name=f"Download {name}").click()
        clicked["download"] = info.value

    growth = measure(heaps, click, lambda: finished_state(page, DOWNLOAD_STATE, name, "done"))
    got = clicked["download"]
    assert got.failure() is None
    assert "/dl/" in got.url, got.url  # saved through the Service Worker, not a blob:
    got.save_as(saved)
    got.delete()
    return growth


def collect_into_blob(page, heaps: Heaps, name: str) -> dict[str, int]:
    return measure(heaps, lambda: page.evaluate(COLLECT_INTO_BLOB, name),
                   lambda: page.evaluate("window.__collected !== null"))


def table(title: str, runs: dict[int, dict[str, int]]) -> str:
    labels = sorted({label for growth in runs.values() for label in growth})
    rows = [f"{title}: growth in MiB by process/heap, " + " | ".join(
        f"{size // MiB} MiB" for size in runs)]
    for label in labels:
        rows.append(f"  {label}: " + " | ".join(
            f"{growth.get(label, 0) / MiB:.1f}" for growth in runs.values()))
    return "\n".join(rows)


class UploadMemoryGrows(AssertionError):
    """The upload's known defect (see the test's xfail): the browser process holds about
    one 8 MiB PATCH body per PATCH sent and gives it back only later (docs/benchmarks.md
    "Browser memory (Chromium)"; likely the blob storage of tus-js-client's PATCH Blobs)."""


def growing(title: str, runs: dict[int, dict[str, int]]) -> list[str]:
    """Every process or heap that grew by 160 MiB or more, or by 32 MiB or more at
    256 MiB than at 64 MiB."""
    small, big = (runs[size] for size in SIZES)
    out = [f"{title}: {label} grew {grown / MiB:.1f} MiB at {size // MiB} MiB"
           for size, growth in runs.items() for label, grown in growth.items()
           if grown >= CEILING]
    out += [f"{title}: {label} grew {grown / MiB:.1f} MiB at 256 MiB, "
            f"{small.get(label, 0) / MiB:.1f} MiB at 64 MiB"
            for label, grown in big.items() if grown - small.get(label, 0) >= SLOPE]
    return out


@pytest.mark.xfail(raises=UploadMemoryGrows, strict=True, reason=(
    "issue 14 must-show 4 not met by the upload: the browser process holds about one 8 MiB "
    "PATCH body per PATCH (+65 MiB at 64 MiB, +124 MiB at 256 MiB); the download, the "
    "hashes and the control are asserted and must pass"))
def test_uploads_and_service_worker_downloads_of_256_mib_take_no_more_memory_than_64_mib(
        server, transactional_db, browser, new_page, tmp_path):  # noqa: F811
    """Each size goes up through the encrypt Worker and comes back through the Service
    Worker with its SHA-256; every Chromium process and every heap (page, upload Worker,
    Service Worker) grows by under 160 MiB, and at 256 MiB by under 32 MiB more than at
    64 MiB. Control: collecting the 256 MiB into a Blob grows some process by ≥ 200 MiB."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_file_chat(new_page, server, alice)
    start_conversation(page, [bob.email])
    heaps = Heaps(browser, page)
    uploads, downloads = {}, {}
    for size in SIZES:
        path = tmp_path / f"memory-{size // MiB}-mib.bin"
        digest = write_random_file(path, size)
        started = time.monotonic()
        uploads[size] = upload(page, heaps, path)
        print(f"{size // MiB} MiB upload: {time.monotonic() - started:.0f} s")
        saved = tmp_path / f"saved-{size // MiB}-mib.bin"
        started = time.monotonic()
        downloads[size] = download(page, heaps, path.name, saved)
        print(f"{size // MiB} MiB download: {time.monotonic() - started:.0f} s")
        assert sha256_of(saved) == digest
        saved.unlink()
        if size != SIZES[-1]:
            path.unlink()
    assert {"heap page", "heap upload worker"} <= set(uploads[SIZES[-1]]), uploads
    assert {"heap page", "heap service worker"} <= set(downloads[SIZES[-1]]), downloads

    control = collect_into_blob(page, heaps, path.name)
    assert page.evaluate("window.__collected.size") == SIZES[-1]
    print(table("upload", uploads))
    print(table("download", downloads))
    print(table("control (Blob)", {SIZES[-1]: control}))
    assert max(control.values()) >= CONTROL, control
    assert growing("download", downloads) == []
    assert page.errors == []
    if growing("upload", uploads):
        raise UploadMemoryGrows("; ".join(growing("upload", uploads)))
