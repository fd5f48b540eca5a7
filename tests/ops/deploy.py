"""The shipped deploy/ files, read and rendered for a test run on this machine.

``unit_file()`` instantiates the systemd template for this checkout;
``exec_start()`` is its ExecStart command line; ``read_env_file()`` reads an
EnvironmentFile the way systemd does; ``Nginx`` renders the site config
with test ports and a test certificate under a minimal main config and runs
nginx in the foreground until ``stop()``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.live import REPO_ROOT, free_port

DEPLOY = REPO_ROOT / "deploy"
UNIT_TEMPLATE = DEPLOY / "systemd" / "securechat@.service"
NGINX_SITE = DEPLOY / "nginx" / "securechat.conf"
ENV_EXAMPLE = DEPLOY / "securechat.env.example"
INSTALL_DIR = "/opt/securechat"
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def replace_once(text: str, old: str, new: str) -> str:
    """Replace ``old`` (which must occur) everywhere: the test breaks loudly if the file
    changes shape instead of silently testing something else."""
    assert old in text, f"{old!r} not found"
    return text.replace(old, new)


def unit_file(env_file: Path, template: Path = UNIT_TEMPLATE) -> str:
    """A shipped service unit for this checkout: this Python, this directory, root,
    ``env_file``."""
    text = template.read_text()
    text = replace_once(text, f"{INSTALL_DIR}/.venv/bin/python", sys.executable)
    text = replace_once(text, INSTALL_DIR, str(REPO_ROOT))
    text = replace_once(text, "User=securechat", "User=root")
    text = replace_once(text, "Group=securechat", "Group=root")
    return replace_once(text, "/etc/securechat/securechat.env", str(env_file))


def unit_directive(unit: str, name: str) -> str:
    """The value of ``name=`` in the [Service] section, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", unit)
    (value,) = re.findall(rf"^{name}=(.*)$", joined, flags=re.MULTILINE)
    return value.strip()


def exec_start(unit: str, instance: str) -> list[str]:
    """ExecStart as argv, with systemd's ``%i`` (the instance name) substituted."""
    return [arg.replace("%i", instance) for arg in shlex.split(unit_directive(unit, "ExecStart"))]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile reads them (comments, blank lines,
    optional quotes)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_file_problems(text: str) -> list[str]:
    """What in an ``EnvironmentFile=`` systemd.exec(5) would not read as one plain
    ``KEY=value`` per line, or would read differently from ``sh`` (securechat-manage
    sources the same file): ``["line N: why", …]``, empty when the file is good.

    systemd's rules: lines starting with ``#`` or ``;`` are comments, anywhere else a
    ``#`` is part of the value; nothing is executed or expanded; a trailing backslash
    continues the line; single and double quotes group. So an inline comment ends up
    in the value, ``$(...)`` stays literal (while sh runs it), and ``A=1 B=2`` gives A
    the value ``1 B=2`` (while sh sets both).
    """
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep or not ENV_NAME.fullmatch(key):
            problems.append(f"line {number}: not KEY=value (no spaces, no export)")
            continue
        problems += [f"line {number}: {why}" for why in env_value_problems(value)]
    return problems


def env_value_problems(value: str) -> list[str]:
    """Problems of one value (see ``env_file_problems``)."""
    if value.endswith("\\"):
        return ["a trailing backslash continues the line"]
    segments, quote, current = [], "", ""
    for char in value:
        if quote and char == quote:
            segments.append((quote, current))
            quote, current = "", ""
        elif not quote and char in "'\"":
            segments.append(("", current))
            quote, current = char, ""
        else:
            current += char
    if quote:
        return ["an unclosed quote"]
    segments.append(("", current))
    unquoted = " ".join(text for q, text in segments if q == "")
    expanded = "".join(text for q, text in segments if q != "'")  # sh expands these
    problems = []
    if re.search(r"\s#|^#", unquoted):
        problems.append("an inline comment (systemd keeps it in the value)")
    if "$(" in expanded or "`" in expanded:
        problems.append("a command substitution $(...) (systemd keeps it literally, sh runs it)")
    elif "$" in expanded:
        problems.append("a $ expansion (systemd keeps it literally, sh expands it)")
    if re.search(r"\s+[A-Za-z_][A-Za-z0-9_]*=", unquoted):
        problems.append("several assignments on one line")
    elif re.search(r"\S\s+\S", unquoted.strip()) and not problems:
        problems.append("unquoted spaces (sh would run the rest as a command)")
    if re.search(r"[<>|&;]", unquoted):
        problems.append("an unquoted shell character (< > | & ;)")
    return problems


def write_env_file(path: Path, overrides: dict[str, str]) -> Path:
    """The shipped example with ``overrides`` replacing (or adding) values, mode 0600."""
    lines, seen = [], set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.partition("=")[0].strip()
        if line.strip() and not line.lstrip().startswith("#") and key in overrides:
            line = f"{key}={overrides[key]}"
            seen.add(key)
        lines.append(line)
    lines += [f"{k}={v}" for k, v in overrides.items() if k not in seen]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open:\n{log.read_text(errors='replace')}")


def stop_process(process: subprocess.Popen | None, sig=signal.SIGTERM) -> None:
    """Stop a process started with ``start_new_session=True`` and its children."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Nginx:
    """The shipped site config in front of ``upstream_ports``, on 127.0.0.1 only."""

    workdir: Path
    upstream_ports: list[int]
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    error_level: str | None = None  # None: the level the shipped file sets
    upstream_params: str | None = None  # None: the shipped parameters of each server line
    process: subprocess.Popen | None = None

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def access_log(self) -> Path:
        return self.workdir / "access.log"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    @property
    def site_error_log(self) -> Path:
        """The site's own ``error_log`` (the shipped level, or ``error_level``)."""
        return self.workdir / "site-error.log"

    def render_site(self, cert: Path, key: Path) -> str:
        text = NGINX_SITE.read_text()
        (params,) = set(re.findall(r"    server 127\.0\.0\.1:\d+([^;\n]*);\n", text))
        params = params if self.upstream_params is None else self.upstream_params
        upstreams = "".join(f"    server 127.0.0.1:{p}{params};\n" for p in self.upstream_ports)
        text = re.sub(r"(    server 127\.0\.0\.1:\d+[^;\n]*;\n)+", upstreams, text, count=1)
        text = replace_once(text, "    listen [::]:80;\n", "")
        text = replace_once(text, "    listen [::]:443 ssl http2;\n", "")
        text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{self.http_port};")
        text = replace_once(text, "listen 443 ssl http2;",
                            f"listen 127.0.0.1:{self.https_port} ssl http2;")
        text = replace_once(text, "/etc/letsencrypt/live/chat.example.com/fullchain.pem",
                            str(cert))
        text = replace_once(text, "/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key))
        text = replace_once(text, "https://chat.example.com$request_uri",
                            f"https://127.0.0.1:{self.https_port}$request_uri")
        if self.error_level is not None:
            text = re.sub(r"(error_log \S+) \w+;", rf"\1 {self.error_level};", text)
        text = replace_once(text, "/var/log/nginx/securechat.error.log", str(self.site_error_log))
        return replace_once(text, "/var/log/nginx/securechat.access.log", str(self.access_log))

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cert, key = self_signed_certificate(self.workdir)
        site = self.workdir / "securechat.conf"
        site.write_text(self.render_site(cert, key))
        temp = {name: self.workdir / name for name in
                ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir(exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        main = self.workdir / "nginx.conf"
        main.write_text(
            f"{user}worker_processes 1;\n"
            f"pid {self.workdir / 'nginx.pid'};\n"
            f"error_log {self.error_log} warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    client_body_temp_path {temp['client_body']};\n"
            f"    proxy_temp_path {temp['proxy']};\n"
            f"    fastcgi_temp_path {temp['fastcgi']};\n"
            f"    uwsgi_temp_path {temp['uwsgi']};\n"
            f"    scgi_temp_path {temp['scgi']};\n"
            f"    access_log {self.workdir / 'default-access.log'};\n"
            f"    include {site};\n"
            "}\n")
        return main

    def command(self, main: Path) -> list[str]:
        return ["nginx", "-p", str(self.workdir), "-e", str(self.error_log), "-c", str(main)]

    def test_config(self) -> subprocess.CompletedProcess:
        main = self.write_config()
        return subprocess.run([*self.command(main), "-t"], capture_output=True, text=True,
                              timeout=30)

    def start(self) -> Nginx:
        main = self.write_config()
        log = self.workdir / "nginx.out"
        with open(log, "wb") as out:
            self.process = subprocess.Popen([*self.command(main), "-g", "daemon off;"],
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_for_port(self.https_port, self.process, log)
        return self

    def stop(self) -> None:
        stop_process(self.process, signal.SIGQUIT)
