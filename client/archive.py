"""``securechat archive DIR``: everything the user can read, decrypted, kept up to date.

Layout (docs/cli.md "archive")::

    DIR/.securechat-archive.json     what is committed: per conversation the last
                                     timeline seq and the JSON-lines file's length
    DIR/<conversation id>.jsonl      one line per history entry, in seq order
    DIR/<conversation id>/<seq>-<safe name>   the files of its file messages

Contract:

- incremental: a rerun appends only entries after the committed seq and downloads only
  their files; a file or line written before is never rewritten (same inode, same
  mtime). A run that finds nothing new writes nothing, not even the state file;
- a kill at any point and a rerun give the tree an uninterrupted run gives. Files are
  downloaded to a temporary file renamed on a matching ``file_hash`` (client.files);
  lines are appended, fsynced, and only then committed in the state file (temporary
  file, fsync, atomic rename). Bytes past the committed length — the lines of a run
  killed before its commit — are cut off before anything is appended, so a half line
  is never trusted; an uncommitted file is downloaded again over itself;
- nothing outside DIR: conversation ids must be 32 hex digits (they come from the
  server), file names are :func:`client.filemessage.local_name` (no separators, no
  dots first, no controls, at most 240 bytes) behind the message's seq;
- DIR must be empty or an archive of the same account on the same server.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import filemessage, files
from .conversations import ChainRefused, Conversation, Entry, Messenger, ServerRestored
from .errors import ApiFailure, FileHashMismatch, LocalFileError, UsageError

__all__ = ["STATE_FILE", "ArchiveReport", "run"]

STATE_FILE = ".securechat-archive.json"
STATE_VERSION = 1
_CONVERSATION_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class ArchiveReport:
    conversations: int = 0
    lines: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)


class ArchiveState:
    """The committed part of the archive (DIR/.securechat-archive.json)."""

    def __init__(self, root: Path, server: str, account: str) -> None:
        self.path = root / STATE_FILE
        self._tmp = root / f"{STATE_FILE}.tmp"
        self._tmp.unlink(missing_ok=True)  # a kill between write and rename: never read
        self.body = {"v": STATE_VERSION, "server": server, "account": account,
                     "conversations": {}}
        if self.path.exists():
            self._load(server, account)
        elif any(p for p in root.iterdir()):
            raise UsageError(f"{root} is not empty and not an archive; choose an empty or "
                             "new directory")

    def _load(self, server: str, account: str) -> None:
        try:
            body = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            raise LocalFileError(f"{self.path} is damaged; archive into a new directory") \
                from None
        if not isinstance(body, dict) or body.get("v") != STATE_VERSION:
            raise LocalFileError(f"{self.path} is not a securechat archive state")
        if (body.get("server"), body.get("account")) != (server, account):
            raise UsageError(f"{self.path.parent} is the archive of {body.get('account')} on "
                             f"{body.get('server')}; use another directory")
        self.body = body

    def committed(self, conversation_id: str) -> dict:
        return self.body["conversations"].setdefault(conversation_id, {"seq": 0, "bytes": 0})

    def save(self) -> None:
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(self.body, indent=1, sort_keys=True).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(self._tmp, self.path)
        _fsync_dir(self.path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run(messenger: Messenger, root: Path, account: str) -> ArchiveReport:
    """Archive every conversation ``messenger`` lists into ``root`` (made if missing)."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = ArchiveState(root, messenger.session.origin, account)
    if not state.path.exists():
        state.save()  # the directory is this account's archive from now on
    report = ArchiveReport()
    for listed in sorted(messenger.list(), key=lambda item: str(item.get("id"))):
        conversation_id = str(listed.get("id"))
        if not _CONVERSATION_ID.fullmatch(conversation_id):
            report.problems.append(f"the server lists a malformed conversation id "
                                   f"{conversation_id[:40]!r}; skipped")
            continue
        try:
            conv = messenger.load_listed(listed)
        except (ChainRefused, ServerRestored) as exc:
            report.problems.append(f"{conversation_id[:12]} not archived: {exc}")
            continue
        report.conversations += 1
        _Writer(messenger, conv, root, state, report).run()
    return report


class _Writer:
    """The new entries of one conversation: files first, then their lines, then commit."""

    def __init__(self, messenger: Messenger, conv: Conversation, root: Path,
                 state: ArchiveState, report: ArchiveReport) -> None:
        self.messenger, self.conv, self.state, self.report = messenger, conv, state, report
        self.log = root / f"{conv.id}.jsonl"
        self.folder = root / conv.id
        self.committed = state.committed(conv.id)
        self.pending: list[bytes] = []

    def run(self) -> None:
        self._cut_uncommitted()
        for entry in self.conv.entries:
            if entry.seq <= self.committed["seq"]:
                continue
            if entry.file is None:
                self.pending.append(_line(self.conv, entry))
                continue
            saved, problem = self._download(entry)
            self.pending.append(_line(self.conv, entry, saved, problem))
            self._commit(entry.seq)  # a file is committed with its line: never fetched twice
        if self.pending or self.conv.last_seq > self.committed["seq"]:
            self._commit(self.conv.last_seq)

    def _cut_uncommitted(self) -> None:
        """Drop what a killed run appended but never committed (maybe half a line)."""
        want = self.committed["bytes"]
        try:
            have = self.log.stat().st_size
        except FileNotFoundError:
            have = 0
        if have < want:
            raise LocalFileError(f"{self.log} is shorter than the archive recorded; "
                                 "archive into a new directory")
        if have > want:
            with open(self.log, "r+b") as f:
                f.truncate(want)
                os.fsync(f.fileno())

    def _download(self, entry: Entry) -> tuple[Path | None, str | None]:
        doc = entry.file
        name = filemessage.local_name(doc.name, prefix=f"{entry.seq}-")
        target = self.folder / name
        self.folder.mkdir(mode=0o700, exist_ok=True)
        ref = files.FileRef(doc.upload_id, doc.identity, doc.file_hash)
        try:
            # Replacing is right here: an uncommitted file of this seq is a killed run's.
            files.download(self.messenger.session, ref, target, force=True)
        except FileHashMismatch as exc:
            return None, f"not saved: {exc}"
        except ApiFailure as exc:
            if exc.status not in (403, 404, 410):
                raise  # the server or the network failed: the rerun tries again
            return None, f"not saved: the server no longer serves it ({exc.detail})"
        self.report.files += 1
        return target, None

    def _commit(self, seq: int) -> None:
        if self.pending:
            fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "ab") as out:
                out.write(b"".join(self.pending))
                out.flush()
                os.fsync(out.fileno())
            self.report.lines += len(self.pending)
            self.committed["bytes"] += sum(len(line) for line in self.pending)
            self.pending = []
        self.committed["seq"] = seq
        self.state.save()


def _line(conv: Conversation, entry: Entry, saved: Path | None = None,
          problem: str | None = None) -> bytes:
    value: dict = {"seq": entry.seq, "time": _iso(entry.time), "sender": entry.sender}
    if entry.failure is not None:
        value.update(type="failure", failure=entry.failure)
    elif entry.event is not None:
        value.update(type="event", text=entry.event)
    elif entry.file is not None:
        doc = entry.file
        value.update(type="file", text=entry.text, file={
            "name": doc.name, "mime": doc.mime, "size": doc.size, "upload_id": doc.upload_id,
            "file_hash": doc.file_hash.hex(),
            "path": f"{conv.id}/{saved.name}" if saved is not None else None})
        if problem is not None:
            value["file"]["problem"] = problem
    else:
        value.update(type="text", text=entry.text)
    if entry.warnings:
        value["warnings"] = list(entry.warnings)
    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"


def _iso(ms: int) -> str | None:
    if ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
