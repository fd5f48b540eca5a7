"""``securechat archive DIR`` (docs/cli.md "archive") and hostile file names.

Two conversations with files: the archive holds one JSON-lines file per conversation
(seq order, sender, time, type, text, file references, membership events) and a
folder of its files; a rerun writes only what is new; a SIGKILL at any point of a run
and a rerun give the tree an uninterrupted run gives. A hostile sender (the Python
client library) names its files like paths: ``download`` and ``archive`` keep them
all inside the directory they were given, under safe names.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from client import files
from client.archive import STATE_FILE
from client.filemessage import FileDocument
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.cli_support import assert_one_error_line
from tests.client.test_cli_messages import CliUser
from tests.client.test_conversations import make_user

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]
slow = pytest.mark.slow  # a scene of three CLI users takes 30-60 s here

FILE_SIZE = 300_000  # five 64 KiB chunks: a kill can land inside a file


@pytest.fixture
def server(start_server):
    return start_server("uvicorn")


def random_file(path: Path, size: int = FILE_SIZE) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``root``: its SHA-256, inode and mtime."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (sha256(path), st.st_ino, st.st_mtime_ns)
    return out


def hashes(root: Path) -> dict[str, str]:
    return {name: value[0] for name, value in tree(root).items()}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class Scene:
    """Alice, with a direct conversation with Bob and a group with Bob and Carol, each
    with text and a file from someone else."""

    def __init__(self, server, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.alice, self.bob, self.carol = (CliUser(server, tmp_path, n)
                                            for n in ("alice", "bob", "carol"))
        self.direct = self.alice.ok("new", self.bob.email).split()[2]
        self.group = self.alice.ok("group", "create", "Team", self.bob.email,
                                   self.carol.email).split()[2]
        self.sent: dict[str, Path] = {}
        self.alice.ok("send", self.direct, "hello bob")
        self.send_file(self.bob, self.direct, "report.pdf")
        self.send_file(self.carol, self.group, "photo.jpg")
        self.bob.ok("send", self.group, "nice photo")

    def send_file(self, user: CliUser, conversation: str, name: str) -> None:
        path = random_file(self.tmp / name)
        user.ok("upload", str(path), "--conversation", conversation)
        self.sent[name] = path


@slow
def test_archive_writes_every_conversation_and_its_files_then_only_what_is_new(
        server, tmp_path):
    scene = Scene(server, tmp_path)
    alice, out = scene.alice, tmp_path / "archive"
    done = alice.ok("archive", str(out))
    assert "2 new files in 2 conversations" in done
    direct, group = lines(out / f"{scene.direct}.jsonl"), lines(out / f"{scene.group}.jsonl")
    for log in (direct, group):
        assert [e["seq"] for e in log] == sorted({e["seq"] for e in log})
        assert all(e["time"].endswith("+00:00") for e in log)
    texts = [(e["sender"], e["type"], e.get("text")) for e in direct if e["type"] != "event"]
    assert texts[0] == (alice.email, "text", "hello bob")
    (report,) = [e for e in direct if e["type"] == "file"]
    assert report["sender"] == scene.bob.email and report["file"]["name"] == "report.pdf"
    assert sha256(out / report["file"]["path"]) == sha256(scene.sent["report.pdf"])
    # Membership operations are lines too (the group's creation names both members).
    events = " ".join(e["text"] for e in group if e["type"] == "event")
    assert scene.bob.email in events and scene.carol.email in events
    (photo,) = [e for e in group if e["type"] == "file"]
    assert photo["file"]["path"] == f"{scene.group}/{photo['seq']}-photo.jpg"
    assert sha256(out / photo["file"]["path"]) == sha256(scene.sent["photo.jpg"])
    assert group[-1]["type"] == "text" and group[-1]["text"] == "nice photo"
    # Secrets stay out: no file's one-time identity is in the archive.
    assert b"AGE-SECRET-KEY" not in b"".join(p.read_bytes() for p in out.rglob("*")
                                             if p.is_file())

    # Nothing new: nothing is written, not even the state file.
    before = tree(out)
    assert "0 new lines, 0 new files" in alice.ok("archive", str(out))
    assert tree(out) == before

    # New in the direct conversation only: the group's files and every old file keep
    # their inode and mtime; the direct log gets exactly the new lines appended.
    old_direct = (out / f"{scene.direct}.jsonl").read_bytes()
    scene.bob.ok("send", scene.direct, "one more thing")
    scene.send_file(scene.bob, scene.direct, "later.txt")
    assert "2 new lines, 1 new files" in alice.ok("archive", str(out))
    after = tree(out)
    for name, value in before.items():
        if name not in (f"{scene.direct}.jsonl", STATE_FILE):
            assert after[name] == value, name
    grown = (out / f"{scene.direct}.jsonl").read_bytes()
    assert after[f"{scene.direct}.jsonl"][1] == before[f"{scene.direct}.jsonl"][1]  # inode
    assert grown.startswith(old_direct)
    new = [json.loads(line) for line in grown[len(old_direct):].splitlines()]
    assert [(e["type"], e.get("text")) for e in new][0] == ("text", "one more thing")
    assert new[1]["type"] == "file" and new[1]["file"]["name"] == "later.txt"
    assert sha256(out / new[1]["file"]["path"]) == sha256(scene.sent["later.txt"])
    assert set(after) - set(before) == {new[1]["file"]["path"]}


def test_archive_refuses_a_directory_that_is_not_its_own(server, tmp_path):
    alice = CliUser(server, tmp_path, "alice")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert_one_error_line(alice.run("archive", str(busy)), "not empty and not an archive")
    assert os.listdir(busy) == ["notes.txt"]
    assert_one_error_line(alice.run("archive", str(busy / "notes.txt")), "is not a directory")
    assert (busy / "notes.txt").read_text() == "mine"
    theirs = tmp_path / "theirs"
    CliUser(server, tmp_path, "bob").ok("archive", str(theirs))
    before = tree(theirs)
    assert_one_error_line(alice.run("archive", str(theirs)), "is the archive of")
    assert tree(theirs) == before


KILL_BOOT = cli_support.BLOCK_DJANGO + """
import os, signal
import agecrypt
from client import archive
calls = {{"decrypt": 0, "commit": 0, "save": 0}}
def die():
    os.kill(os.getpid(), signal.SIGKILL)
_decrypt = agecrypt.FileCipher.decrypt_chunk
def decrypt_chunk(self, *args):
    calls["decrypt"] += 1
    if "{point}" == "mid-file" and calls["decrypt"] == {at}:
        die()  # inside a file's download: its temporary file is half written
    return _decrypt(self, *args)
agecrypt.FileCipher.decrypt_chunk = decrypt_chunk
_commit = archive._Writer._commit
def commit(self, seq):
    calls["commit"] += 1
    if "{point}" == "half-line" and calls["commit"] == {at} and self.pending:
        with open(self.log, "ab") as log:
            data = b"".join(self.pending)
            log.write(data[:len(data) // 2])  # a torn append
        die()
    return _commit(self, seq)
archive._Writer._commit = commit
_save = archive.ArchiveState.save
def save(self):
    calls["save"] += 1
    if "{point}" == "before-commit" and calls["save"] == {at}:
        die()  # lines appended and synced, not yet committed
    return _save(self)
archive.ArchiveState.save = save
from client.cli import main
sys.exit(main(sys.argv[2:], _min_work_factor=int(sys.argv[1])))
"""


@slow
@pytest.mark.parametrize("point, at", [("mid-file", 7), ("half-line", 2),
                                       ("before-commit", 3)])
def test_archive_killed_mid_run_completes_identically_when_run_again(
        server, tmp_path, monkeypatch, point, at):
    scene = Scene(server, tmp_path)
    reference, out = tmp_path / "reference", tmp_path / "archive"
    scene.alice.ok("archive", str(reference))

    monkeypatch.setattr(cli_support, "BOOT", KILL_BOOT.format(point=point, at=at))
    killed = scene.alice.run("archive", str(out))
    assert killed.returncode == -9, killed
    partial = hashes(out)
    assert partial != hashes(reference)  # the kill came strictly before the end
    if point == "mid-file":
        assert any(name.endswith(".part") for name in partial)
    else:  # a log holds bytes the state file does not vouch for
        state = json.loads((out / STATE_FILE).read_text())["conversations"]
        assert any(log.stat().st_size > state.get(log.stem, {}).get("bytes", 0)
                   for log in out.glob("*.jsonl"))

    monkeypatch.setattr(cli_support, "BOOT", KILL_BOOT.format(point="none", at=0))
    scene.alice.ok("archive", str(out))
    assert hashes(out) == hashes(reference)


HOSTILE_NAMES = ["../../.bashrc", "/etc/x", "a\\b", "invoice\u202efdp.exe",
                 "n" * 296 + ".pdf"]


@slow
def test_hostile_file_names_stay_inside_the_directory_under_safe_names(server, tmp_path):
    bob = CliUser(server, tmp_path, "bob")
    mallory = make_user(server, tmp_path, "mallory")
    cid = mallory.create([mallory.lookup_email(bob.email)], "", "direct")
    sent = {}
    (tmp_path / "mallory-uploads").mkdir()
    for index, name in enumerate(HOSTILE_NAMES):
        source = random_file(tmp_path / f"source-{index}", 1000 + index)
        up = files.upload(mallory.session, source, mallory.identity.current_identity,
                          tmp_path / "mallory-uploads")
        doc = FileDocument(name, "text/plain", source.stat().st_size, up.length,
                           up.upload_id, up.identity, up.file_hash)
        sent[mallory.send_file(cid, doc)["seq"]] = sha256(source)

    jail = tmp_path / "jail" / "deep"
    inbox, archive = jail / "inbox", jail / "archive"
    inbox.mkdir(parents=True)
    outside_before = {p for p in tmp_path.rglob("*") if jail not in p.parents}
    for seq in sent:
        bob.ok("download", f"{cid}:{seq}", "-o", str(inbox))
    bob.ok("archive", str(archive))
    created = {p for p in tmp_path.rglob("*") if jail not in p.parents} - outside_before
    assert {p for p in created if bob.home not in p.parents} == set()  # nothing outside
    assert not (tmp_path / "jail" / ".bashrc").exists() and not (tmp_path / ".bashrc").exists()

    saved = sorted(p.name for p in inbox.iterdir())
    assert saved == sorted(["bashrc", "x", "b", "invoicefdp.exe", "n" * 146 + ".pdf"])
    assert sorted(sha256(p) for p in inbox.iterdir()) == sorted(sent.values())
    archived = [p for p in archive.rglob("*") if p.is_file() and p.suffix != ".jsonl"
                and p.name != STATE_FILE]
    assert sorted(p.name for p in archived) == sorted(
        f"{seq}-{name}" for seq, name in zip(sent, ["bashrc", "x", "b", "invoicefdp.exe",
                                                    "n" * 146 + ".pdf"], strict=True))
    assert {p.parent for p in archived} == {archive / cid}
    assert sorted(sha256(p) for p in archived) == sorted(sent.values())
    log = lines(archive / f"{cid}.jsonl")
    assert sorted(e["file"]["name"] for e in log if e["type"] == "file") == sorted(HOSTILE_NAMES)
