"""The files in deploy/ work as shipped (docs/operations.md, "Process manager" and
"Behind nginx").

- The systemd template, instantiated for this checkout, passes
  ``systemd-analyze verify`` without a word, and its ExecStart, run directly
  with the variables of the example environment file, serves the health
  endpoint and the websocket from the configured origin under production
  settings (``check --deploy`` clean, pages rendered after ``collectstatic``),
  writes no access log (paths carry tokens), and stops cleanly on SIGTERM.
- The nginx site config passes ``nginx -t`` and, in front of two server
  processes, terminates TLS, redirects HTTP, balances over both, upgrades
  websockets from the https origin, streams a 20 MiB upload to the server
  while the client is still sending (``proxy_request_buffering off``) and
  logs emailed-link paths redacted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import time

import httpx
import pytest
from django.conf import settings
from websockets.exceptions import InvalidStatus

from filestore.models import CipherUpload
from tests.filestore.v2_support import age_file
from tests.ops.deploy import (
    DEPLOY,
    ENV_EXAMPLE,
    SYSTEMD_PATH,
    Nginx,
    exec_start,
    read_env_file,
    stop_process,
    unit_directive,
    unit_file,
    wait_for_port,
    write_env_file,
)
from tests.support.clients import ApiClient, recv_json, ws_connect
from tests.support.live import REPO_ROOT, LiveServer, database_env, free_port
from tests.support.v2chat import V2User, b64url

ORIGIN = "https://chat.example.test"
MiB = 1024 * 1024


# --- systemd ---------------------------------------------------------------------------

def verify(unit_path) -> subprocess.CompletedProcess:
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing (`make test` installs it)"
    return subprocess.run(["systemd-analyze", "verify", str(unit_path)], capture_output=True,
                          text=True, timeout=60)


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    """No output and exit 0; a unit whose command does not exist is reported (control)."""
    env_file = write_env_file(tmp_path / "securechat.env", {})
    unit = unit_file(env_file)
    good = tmp_path / "securechat@8001.service"
    good.write_text(unit)
    done = verify(good)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")

    broken = tmp_path / "securechat@8002.service"
    broken.write_text(unit.replace(unit_directive(unit, "ExecStart").split()[0],
                                   str(tmp_path / "no-such-python")))
    done = verify(broken)
    assert done.returncode != 0 and "no-such-python" in done.stdout + done.stderr


def production_env(tmp_path, port: int) -> dict[str, str]:
    var = tmp_path / "var"
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURECHAT_ORIGINS": ORIGIN,
        "SECURECHAT_VAR_DIR": str(var),
        "MEDIA_ROOT": str(var / "media"),
        "STATIC_ROOT": str(var / "static"),
        "REDIS_URL": settings.REDIS_URL,
        "SECURECHAT_CHANNEL_PREFIX": f"securechat-ops-{port}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        **database_env(),
    }


def securechat_manage(env_file, *args: str) -> subprocess.CompletedProcess:
    """deploy/securechat-manage as an operator runs it, with only a shell's PATH set."""
    env = {"PATH": SYSTEMD_PATH, "SECURECHAT_ENV_FILE": str(env_file),
           "SECURECHAT_APP_DIR": str(REPO_ROOT), "SECURECHAT_USER": "securechat-not-created"}
    return subprocess.run([str(DEPLOY / "securechat-manage"), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_the_example_env_file(tmp_path, transactional_db):
    """The example's SMTP mail settings kept; only secrets, paths and services replaced."""
    env = production_env(tmp_path, 0)
    del env["EMAIL_BACKEND"], env["EMAIL_FILE_PATH"]
    env_file = write_env_file(tmp_path / "securechat.env", env)
    done = securechat_manage(env_file, "check", "--deploy")
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    # Control: the same command notices a production setting it dislikes.
    weak = write_env_file(tmp_path / "weak.env", {**env, "SECURE_HSTS_SECONDS": "0"})
    done = securechat_manage(weak, "check", "--deploy")
    assert "security.W004" in done.stdout + done.stderr


def run_unit_command(unit: str, env_file, port: int, log, *, drop: str | None = None):
    """ExecStart as systemd would run it: its environment only, in WorkingDirectory."""
    argv = [a for a in exec_start(unit, str(port)) if a != drop]
    env = {"PATH": SYSTEMD_PATH, **read_env_file(env_file)}
    key, _, value = unit_directive(unit, "Environment").partition("=")
    env[key] = value
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=unit_directive(unit, "WorkingDirectory"), env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, process, log)
    except BaseException:
        stop_process(process)
        raise
    return process


def health_probe(port: int) -> subprocess.CompletedProcess:
    """The probe of docs/operations.md, straight at one process."""
    return subprocess.run(
        ["curl", "-fsS", "-H", "Host: chat.example.test", "-H", "X-Forwarded-Proto: https",
         f"http://127.0.0.1:{port}/api/v1/health"], capture_output=True, text=True, timeout=30)


async def handshake(port: int, origin: str):
    """Open /ws/ from ``origin``: the handshake status and the close code that follows."""
    async with ws_connect(f"ws://127.0.0.1:{port}/ws/", origin) as ws:
        status = ws.response.status_code
        with pytest.raises(Exception):  # noqa: B017 - any close; the code is checked below
            await asyncio.wait_for(ws.recv(), 10)
        return status, ws.close_code


async def test_the_units_command_serves_under_production_settings(tmp_path, transactional_db,
                                                                   redis_url):
    port = free_port()
    env_file = write_env_file(tmp_path / "securechat.env", production_env(tmp_path, port))
    assert read_env_file(env_file)["SECURECHAT_ENV"] == "production"
    unit = unit_file(env_file)
    collected = await asyncio.to_thread(securechat_manage, env_file, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    log = tmp_path / "unit.log"
    process = run_unit_command(unit, env_file, port, log)
    secret = secrets.token_urlsafe(16)
    try:
        probe = await asyncio.to_thread(health_probe, port)
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout) == {"status": "ok", "database": "ok", "redis": "ok",
                                            "storage": "ok"}
        # Production settings are in force: plain HTTP without the proxy's header redirects,
        # except the health endpoint, which load balancers probe directly.
        async with httpx.AsyncClient() as client:
            plain = await client.get(f"http://127.0.0.1:{port}/login/",
                                     headers={"Host": "chat.example.test"})
            plain_health = await client.get(f"http://127.0.0.1:{port}/api/v1/health",
                                            headers={"Host": "chat.example.test"})
            page = await client.get(f"http://127.0.0.1:{port}/signup/?invitation={secret}",
                             headers={"Host": "chat.example.test",
                                      "X-Forwarded-Proto": "https"})
        assert plain.status_code == 301
        assert plain_health.status_code == 200
        assert plain.headers["Location"] == "https://chat.example.test/login/"
        assert page.status_code == 200  # collectstatic ran: production pages render

        status, code = await handshake(port, ORIGIN)
        assert (status, code) == (101, 4401)  # upgraded, then closed: not logged in
        with pytest.raises(InvalidStatus) as refused:
            await handshake(port, "https://evil.example")
        assert refused.value.response.status_code == 403
    finally:
        process.send_signal(signal.SIGTERM)  # KillSignal
        returncode = await asyncio.to_thread(process.wait, 30)  # TimeoutStopSec
        stop_process(process)
    assert returncode in {0, -signal.SIGTERM}  # both are a clean stop for systemd
    output = log.read_text()
    assert "Finished server process" in output and "Error" not in output
    assert secret not in output

    # With the access log on, lines are written (control: the probe reads a real log) and
    # the token in the query string is still redacted.
    control_log = tmp_path / "control.log"
    process = run_unit_command(unit, env_file, port, control_log, drop="--no-access-log")
    try:
        httpx.get(f"http://127.0.0.1:{port}/signup/?invitation={secret}",
                  headers={"Host": "chat.example.test", "X-Forwarded-Proto": "https"})
    finally:
        stop_process(process)
    control = control_log.read_text()
    # Production logs are JSON lines (docs/operations.md, "Logs"): one object per line.
    messages = [json.loads(line)["message"] for line in control.splitlines() if line.strip()]
    assert any('"GET /signup/?[redacted] HTTP/1.1" 200' in m for m in messages), messages
    assert secret not in control


def test_the_example_env_file_has_every_production_essential():
    env = read_env_file(ENV_EXAMPLE)
    for key in ("SECURECHAT_ENV", "SECRET_KEY", "SECURECHAT_ORIGINS", "SECURECHAT_VAR_DIR",
                "DATABASE_URL", "REDIS_URL", "EMAIL_HOST", "DEFAULT_FROM_EMAIL"):
        assert env.get(key), key
    assert env["SECURECHAT_ENV"] == "production"
    assert env["SECURECHAT_VAR_DIR"] in read_env_file(ENV_EXAMPLE)["MEDIA_ROOT"]
    assert "ReadWritePaths=" + env["SECURECHAT_VAR_DIR"] in unit_file(ENV_EXAMPLE)


# --- nginx -------------------------------------------------------------------------------

def need_nginx():
    assert shutil.which("nginx"), "nginx is missing (`make test` installs it)"


def test_nginx_accepts_the_site_config(tmp_path):
    need_nginx()
    done = Nginx(tmp_path / "nginx", [free_port(), free_port()]).test_config()
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


@pytest.fixture(scope="module")
def upstreams(django_db_setup, redis_url, tmp_path_factory):
    """(HTTPS port, two uvicorn processes sharing the database, Redis and blobs), for the
    module: the processes serve the origin of an nginx on that port."""
    need_nginx()
    https_port = free_port()
    origin = f"https://127.0.0.1:{https_port}"
    root = tmp_path_factory.mktemp("upstreams")
    servers = [LiveServer("uvicorn", root / f"upstream-{i}",
                          extra_env={"SECURECHAT_ORIGINS": origin,
                                     "MEDIA_ROOT": str(root / "media")})
               for i in range(2)]
    try:
        for server in servers:
            server.start()
        yield https_port, servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def behind_nginx(upstreams, tmp_path, transactional_db):
    """The module's two uvicorn processes behind a fresh nginx with the shipped config."""
    https_port, servers = upstreams
    nginx = Nginx(tmp_path / "nginx", [s.port for s in servers], https_port=https_port)
    try:
        nginx.start()
        yield nginx, servers
    finally:
        nginx.stop()


def tls_context(nginx: Nginx) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(nginx.workdir / "cert.pem"))


def login_through(nginx: Nginx, user: V2User) -> ApiClient:
    """A version 2 login (the auth key a client derives) through nginx."""
    client = ApiClient(nginx.origin)
    client.http.close()
    client.http = httpx.Client(base_url=nginx.origin, verify=tls_context(nginx), timeout=60)
    response = client.post("/api/v1/auth/login",
                           {"email": user.email, "auth_key": b64url(user.auth_key)})
    assert response.status_code == 200, response.text
    assert response.json()["otp_required"] is False
    client.fetch_csrf()  # login rotates the token
    return client


def download_path(upload_id: str) -> str:
    """The ciphertext download, GET /api/v1/files/<upload id>."""
    from django.urls import reverse

    return reverse("api-file", args=[upload_id])


def wait_for(predicate, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


async def test_through_nginx_tls_balancing_websockets_and_redirect(behind_nginx):
    nginx, servers = behind_nginx
    context = tls_context(nginx)
    health_line = '"GET /api/v1/health HTTP/1.1" 200'
    before = [server.log().count(health_line) for server in servers]
    async with httpx.AsyncClient(verify=context) as http:
        for i in range(4):
            response = await http.get(f"{nginx.origin}/api/v1/health",
                                      headers={"User-Agent": f"via-nginx-{i}"})
            assert response.status_code == 200 and response.json()["status"] == "ok"
        redirect = await http.get(f"http://127.0.0.1:{nginx.http_port}/login/?next=/")
    assert redirect.status_code == 301
    # To the configured origin, port included (HTTPS is not on 443 here).
    assert redirect.headers["Location"] == f"https://127.0.0.1:{nginx.https_port}/login/?next=/"
    # Round robin: each process answered some of the four requests through nginx.
    after = [server.log().count(health_line) for server in servers]
    assert all(a > b for a, b in zip(after, before, strict=True)) and sum(after) - sum(before) == 4

    alice = await asyncio.to_thread(V2User.signup, "alice")
    client = await asyncio.to_thread(login_through, nginx, alice)
    try:
        ws_url = f"wss://127.0.0.1:{nginx.https_port}/ws/"
        async with ws_connect(ws_url, nginx.origin, client.cookie_header(), ssl=context) as ws:
            assert ws.response.status_code == 101
            await ws.send(json.dumps({"type": "sync2", "positions": {}, "req_id": "r1"}))
            frame = await recv_json(ws)
            assert frame["type"] == "synced2", frame
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(ws_url, f"http://127.0.0.1:{nginx.https_port}",
                                  client.cookie_header(), ssl=context):
                pass
        assert refused.value.response.status_code == 403
    finally:
        client.close()


def test_a_20_mib_upload_streams_through_nginx_unbuffered(behind_nginx):
    """The server has stored part of the body while the client still holds the rest back.

    With ``proxy_request_buffering on`` nginx would read the whole body before
    passing it on, and the wait below would time out.
    """
    nginx, _servers = behind_nginx
    alice = V2User.signup("alice")
    client = login_through(nginx, alice)
    data, _identity = age_file(os.urandom(20 * MiB))  # what a client uploads: an age file
    try:
        created = client.post("/api/v1/uploads/", None, headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data))})
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        upload_id = location.rstrip("/").rsplit("/", 1)[-1]
        held_back = 9 * MiB

        def body():
            for start in range(0, held_back, 256 * 1024):
                yield data[start:start + 256 * 1024]
            wait_for(lambda: CipherUpload.objects.get(pk=upload_id).offset >= 4 * MiB,
                     "the server to store the first 4 MiB while the client waits")
            for start in range(held_back, len(data), 256 * 1024):
                yield data[start:start + 256 * 1024]

        patched = client.http.patch(location, content=body(), headers={
            **client.headers(), "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(len(data))})
        assert patched.status_code == 204, patched.text
        assert int(patched.headers["Upload-Offset"]) == len(data)

        download = client.get(download_path(upload_id))
        assert download.status_code == 200
        assert hashlib.sha256(download.content).digest() == hashlib.sha256(data).digest()
    finally:
        client.close()
    config = nginx.render_site(nginx.workdir / "cert.pem", nginx.workdir / "key.pem")
    assert re.search(r"^\s*proxy_request_buffering off;", config, re.MULTILINE)


def test_nginx_logs_emailed_link_paths_redacted(behind_nginx):
    """Tokens in link paths and in query strings never reach the access log."""
    nginx, _servers = behind_nginx
    token = secrets.token_urlsafe(16)
    with httpx.Client(base_url=nginx.origin, verify=tls_context(nginx)) as http:
        for path in (f"/verify-email/{token}", f"/password-reset/MQ/{token}/",
                     f"/me/email/confirm/{token}/", f"/signup/?invitation={token}",
                     "/login/"):
            http.get(path)
    nginx.stop()  # flushes the log
    log = nginx.access_log.read_text()
    assert token not in log
    for logged in ('"GET /verify-email/[redacted]"', '"GET /password-reset/[redacted]"',
                   '"GET /me/email/confirm/[redacted]"', '"GET /signup/"', '"GET /login/"'):
        assert logged in log, (logged, log)


def test_nginx_error_log_keeps_invitation_tokens_out(tmp_path):
    """With no process answering, nginx answers 502 and logs the failure at [error],
    quoting the request line. At the shipped level (crit) the site's error log never
    holds the invitation token; the access log has the 502 without the query string.
    Control: the same config at level error does log the token."""
    need_nginx()
    secret = secrets.token_urlsafe(24)
    logs = {}
    for level in (None, "error"):
        nginx = Nginx(tmp_path / f"nginx-{level}", [free_port(), free_port()],
                      error_level=level).start()
        try:
            response = httpx.get(f"{nginx.origin}/signup/?invitation={secret}",
                                 verify=tls_context(nginx))
            assert response.status_code == 502
        finally:
            nginx.stop()
        site_log = nginx.site_error_log
        logs[level] = site_log.read_text() if site_log.exists() else ""
        assert secret not in nginx.access_log.read_text()
        assert '"GET /signup/" 502' in nginx.access_log.read_text()
    assert secret not in logs[None]
    assert secret in logs["error"] and "connect() failed" in logs["error"]


TIMERS = {"securechat-purge": "purge_expired --yes", "securechat-verify-storage": "verify_storage"}


def test_the_timer_units_pass_systemd_analyze_verify(tmp_path):
    """Each timer and its service, instantiated for this checkout, verify without a word;
    each service runs its command through manage.py in the installed checkout, with the
    server's environment file. Control: a timer with a bad calendar is reported."""
    env_file = write_env_file(tmp_path / "securechat.env", {})
    for name, command in TIMERS.items():
        service = DEPLOY / "systemd" / f"{name}.service"
        assert unit_directive(service.read_text(), "ExecStart") == (
            f"/opt/securechat/.venv/bin/python manage.py {command}")
        assert unit_directive(service.read_text(), "EnvironmentFile") == (
            "/etc/securechat/securechat.env")
        (tmp_path / service.name).write_text(unit_file(env_file, service))
        shutil.copy(DEPLOY / "systemd" / f"{name}.timer", tmp_path)
    for unit in sorted(tmp_path.glob("securechat-*.*")):
        done = verify(unit)
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), unit.name

    # A timer starts the service of its own name (no Unit= override).
    for name in TIMERS:
        assert "Unit=" not in (DEPLOY / "systemd" / f"{name}.timer").read_text()

    # Control: verify does read timers (a bad calendar is reported).
    broken = tmp_path / "broken"
    broken.mkdir()
    timer = (DEPLOY / "systemd" / "securechat-purge.timer").read_text()
    (broken / "securechat-purge.timer").write_text(
        re.sub(r"OnCalendar=.*", "OnCalendar=every tuesday-ish", timer))
    done = verify(broken / "securechat-purge.timer")
    assert done.returncode != 0 and "calendar" in done.stdout + done.stderr
