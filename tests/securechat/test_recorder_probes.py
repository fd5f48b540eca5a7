"""The §9 recorder and probes themselves, without a server (fast): what they keep, how they
reassemble, and that each form is found where it is and only there. The live positive
controls are in test_never_sees.py."""

from __future__ import annotations

import os

import pytest
from asgiref.sync import async_to_sync

from tests.support import recorder
from tests.support.probes import (
    Probe,
    ProbeFinding,
    forms,
    planted,
    record_haystacks,
    unescape_monitor_line,
    without,
)

SECRET = os.urandom(32)


async def http_app(scope, receive, send):
    """Reads a body sent in two chunks; answers in two chunks."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"set-cookie", b"sessionid=abc")]})
    await send({"type": "http.response.body", "body": SECRET[:13], "more_body": True})
    await send({"type": "http.response.body", "body": SECRET[13:]})


async def ws_app(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    frame = await receive()
    await send({"type": "websocket.send", "bytes": frame["text"].encode()[::-1]})
    await receive()


async def lifespan_app(scope, receive, send):
    await receive()
    await send({"type": "lifespan.startup.complete"})  # passed through, not recorded


def run(app, scope, incoming, path):
    incoming = list(incoming)
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    async_to_sync(recorder.Recorder(app, path))(scope, receive, send)
    return sent


def test_bodies_split_across_messages_are_searched_whole_and_frames_both_ways(tmp_path):
    path = tmp_path / "record.jsonl"
    scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "raw_path": b"/api/v1/x",
             "query_string": b"q=1", "headers": [(b"x-test", b"yes")]}
    run(http_app, scope, [{"type": "http.request", "body": b"{" + SECRET[:7], "more_body": True},
                          {"type": "http.request", "body": SECRET[7:] + b"}"}], path)
    text = "hello " + os.urandom(8).hex()
    run(ws_app, {"type": "websocket", "path": "/ws/", "headers": []},
        [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": text},
         {"type": "websocket.disconnect", "code": 1000}], path)
    run(lifespan_app, {"type": "lifespan"}, [{"type": "lifespan.startup"}], path)

    conns = recorder.conversations(recorder.read_record(path))
    assert [c.label for c in conns] == ["POST /api/v1/x", "websocket /ws/"]
    assert bytes(conns[0].request_body) == b"{" + SECRET + b"}"
    assert bytes(conns[0].response_body) == SECRET
    assert conns[0].response_headers == [[b"set-cookie", b"sessionid=abc"]]
    assert conns[1].frames_in == [text] and conns[1].frames_out == [text.encode()[::-1]]
    places = {f.place.rsplit(" (", 1)[0] for f in Probe({"s": SECRET, "t": text}).search(
        record_haystacks(path))}
    assert places == {"recorder: POST /api/v1/x request body",
                      "recorder: POST /api/v1/x response body",
                      "recorder: websocket /ws/ ws frame in #0"}
    # Control: no single recorded message holds the secret whole.
    assert SECRET not in path.read_bytes()


def test_the_recorder_refuses_to_start_without_its_file(monkeypatch):
    monkeypatch.delenv(recorder.RECORD_ENV, raising=False)
    with pytest.raises(RuntimeError, match=recorder.RECORD_ENV):
        recorder.application  # noqa: B018


@pytest.mark.parametrize("secret", [os.urandom(32), os.urandom(31), os.urandom(16),
                                    "pässword / with + spaces & \"quotes\"",
                                    "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQ"],
                         # Fixed names for random values: pytest-xdist's workers must collect
                         # the same test ids.
                         ids=["random-32", "random-31", "random-16", "password", "age-line"])
def test_each_form_is_found_in_a_longer_stream_and_names_itself(secret):
    other = os.urandom(32)
    for form in forms(secret):
        haystack = os.urandom(50) + planted(secret, form) + os.urandom(50)
        found = Probe({"secret": secret, "other": other}).search([("place", haystack)])
        assert [f.secret for f in found] == ["secret"], form
        assert form in found[0].forms and found[0].place == "place"


def test_base64_is_found_at_each_alignment_padded_or_not():
    import base64

    for offset in range(3):
        for tail in (b"", b"z", b"zz", b"zzz"):
            stream = base64.b64encode(b"p" * offset + SECRET + tail)
            assert Probe({"s": SECRET}).search([("x", stream)]), (offset, tail)
            assert Probe({"s": SECRET}).search([("x", stream.rstrip(b"="))]), (offset, tail)


def test_monitor_lines_decode_to_the_bytes_the_client_sent():
    line = rb'1733230000.1 [0 127.0.0.1:5] "SET" "k" "a\x00\xff\"b\\c\n\r\t"'
    assert unescape_monitor_line(line) == b'SET\nk\na\x00\xff"b\\c\n\r\t'


def test_short_secrets_are_refused_and_allowances_drop_only_their_places():
    with pytest.raises(ValueError):
        Probe({"short": b"0123456789"})
    findings = [ProbeFinding("k", "recorder: POST /login request body (connection 1)", ("raw",)),
                ProbeFinding("k", "server log x line 3", ("raw",)),
                ProbeFinding("j", "recorder: POST /login request body (connection 1)", ("raw",))]
    kept = without(findings, {"k": ("recorder: POST /login request body",)})
    assert kept == findings[1:]


def test_the_sampler_reads_a_deleted_temporary_file_the_end_of_run_snapshot_misses(tmp_path):
    """A process holds a deleted temporary file with the secret for a moment, then closes
    it: the sampler read it while it was open; a snapshot afterwards finds nothing."""
    import subprocess
    import sys
    import time

    from tests.support.probes import OpenFileSampler, open_file_haystacks

    script = ("import sys, tempfile, time\n"
              "f = tempfile.TemporaryFile(dir=sys.argv[1]); f.write(bytes.fromhex(sys.argv[2]))\n"
              "f.flush(); time.sleep(0.5); f.close(); print('closed', flush=True)\n"
              "time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), SECRET.hex()],
                            stdout=subprocess.PIPE, text=True)
    try:
        sampler = OpenFileSampler(proc.pid, skip=[])
        assert proc.stdout.readline() == "closed\n"
        time.sleep(0.05)
        after = Probe({"s": SECRET}).search(open_file_haystacks(proc.pid))
        sampled = Probe({"s": SECRET}).search(sampler.haystacks())
    finally:
        proc.kill()
        proc.wait()
    assert after == []
    assert [f.place.startswith("open file (sampled)") for f in sampled] == [True]
    assert "(deleted)" in sampled[0].place
