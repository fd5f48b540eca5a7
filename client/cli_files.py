"""The file commands of the ``securechat`` CLI (docs/cli.md "Files"; client.files).

    upload FILE (--to EMAIL | --conversation ID)       upload and send it (resumable)
    upload FILE [--resume] [--show-key] [--ref-out REF.json] [--patch-size BYTES]
    download CONVERSATION:SEQ [-o OUT|DIR] [--force]   (or --message CONVERSATION:SEQ)
    download [FILE_ID] (--ref REF.json | --key-file F --hash H) -o OUT [--force]
    file-key REF.json | --message CONVERSATION:SEQ
    archive DIR                                        everything readable, incremental

``upload`` needs the account's identity (stored: the local passphrase; else the
password), because the resume record is encrypted to the account's own key.
A file reference (``--ref-out``) holds the one-time identity, so it is written
0600 and never over an existing file; ``--key-file`` and ``--ref`` are refused
when others can read them. ``download`` exits 3 on a forgery (no output file).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import agecrypt

from . import _local, filemessage, files
from .errors import FileHashMismatch, LocalFileError, UsageError

__all__ = ["COMMANDS", "add_parsers"]

EXIT_FORGERY = 3
REF_VERSION = 1
MIN_PATCH_SIZE = 64 * 1024
_HEX = re.compile(r"[0-9a-f]+")


def add_parsers(sub) -> None:
    c = sub.add_parser("upload", help="encrypt a file here while it uploads (resumable); "
                       "with --to or --conversation also send it")
    c.add_argument("file", type=Path)
    to = c.add_mutually_exclusive_group()
    to.add_argument("--to", metavar="EMAIL", help="send it to this address (the direct "
                    "conversation, started if needed); rerun after a kill to resume")
    to.add_argument("--conversation", metavar="ID", help="send it in this conversation")
    c.add_argument("--resume", action="store_true",
                   help="continue this file's interrupted upload if it is safe to")
    c.add_argument("--show-key", action="store_true",
                   help="also print the file's one-time identity (a secret)")
    c.add_argument("--ref-out", type=Path,
                   help="write a file reference (id, identity, hash) here, mode 0600")
    c.add_argument("--patch-size", type=int, default=files.DEFAULT_PATCH_SIZE,
                   help=argparse.SUPPRESS)
    c = sub.add_parser("download", help="download, decrypt and verify a file")
    c.add_argument("file_id", nargs="?", metavar="MESSAGE|FILE_ID",
                   help="the message CONVERSATION:SEQ (as `securechat read` lists it), "
                   "or an upload id (32 hex digits) with --ref or --key-file and --hash")
    c.add_argument("--message", metavar="CONVERSATION:SEQ",
                   help="the file of this message (as `securechat read` lists it)")
    c.add_argument("--ref", type=Path, help="a file reference written by upload --ref-out")
    c.add_argument("--key-file", type=Path, help="the file's one-time identity (mode 0600)")
    c.add_argument("--hash", help="the file_hash (64 hex digits) the sender signed")
    c.add_argument("-o", "--output", type=Path,
                   help="where to save the file (a directory: under the sender's name, made "
                   "safe); default with --message: that name in the current directory")
    c.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    c = sub.add_parser("file-key", help="print a file's one-time identity for age -d -i")
    c.add_argument("ref", type=Path, nargs="?",
                   help="a file reference written by upload --ref-out")
    c.add_argument("--message", metavar="CONVERSATION:SEQ", help="the file of this message")
    c = sub.add_parser("archive", help="save everything you can read, decrypted, into DIR "
                       "(one JSON-lines file per conversation and its files; rerun: only "
                       "what is new)")
    c.add_argument("dir", type=Path, metavar="DIR")


def cmd_upload(ctx) -> int:
    args = ctx.args
    if args.patch_size < MIN_PATCH_SIZE:
        raise UsageError(f"--patch-size is at least {MIN_PATCH_SIZE}")
    target = args.to or args.conversation
    if target is not None:
        if args.ref_out is not None or args.show_key or args.resume:
            raise UsageError("--to and --conversation send the file (always resumable); "
                             "--ref-out, --show-key and --resume are for a bare upload")
        from .cli_messages import send_file  # it imports the messaging engine

        return send_file(ctx, target, args.file, args.patch_size)
    if args.ref_out is not None and (args.ref_out.exists() or args.ref_out.is_symlink()):
        raise LocalFileError(f"{args.ref_out} exists; choose another name")
    if not args.file.is_file():
        raise LocalFileError(f"{args.file} is not a file")  # before asking for any secret
    owner = ctx.identity().current_identity
    with ctx.session() as session:
        result = files.upload(session, args.file, owner, ctx.dir, resume=args.resume,
                              patch_size=args.patch_size)
    if args.ref_out is not None:
        ref = {"v": REF_VERSION, "server": ctx.origin, "upload_id": result.upload_id,
               "identity": result.identity, "file_hash": result.file_hash.hex(),
               "length": result.length, "name": args.file.name}
        _local.write_private(args.ref_out, json.dumps(ref, indent=1).encode() + b"\n",
                             exclusive=True)
    print(f"upload_id: {result.upload_id}")
    print(f"file_hash: {result.file_hash.hex()}")
    print(f"length: {result.length}")
    print(f"resumed_from: {result.resumed_from}")
    if result.restarted:
        print("restarted: the recorded upload could not continue safely; "
              "uploaded again under a new key")
    if args.show_key:
        print(f"identity: {result.identity}")
    return 0


def _read_ref(path: Path) -> dict:
    value = _local.read_json(path)  # refuses a file others can read
    if not value:
        raise LocalFileError(f"{path} does not exist or is empty")
    if value.get("v") != REF_VERSION:
        raise LocalFileError(f"{path} is not a securechat file reference")
    for name in ("upload_id", "identity", "file_hash"):
        if not isinstance(value.get(name), str):
            raise LocalFileError(f"{path} has no {name}")
    return value


def _file_ref(args, server: str) -> files.FileRef:
    if args.ref is not None:
        if args.file_id or args.key_file or args.hash:
            raise UsageError("give either --ref or FILE_ID with --key-file and --hash")
        value = _read_ref(args.ref)
        if value.get("server", server) != server:
            raise UsageError(f"this file is on {value['server']}; pass --server to use it")
        upload_id, identity, hash_hex = value["upload_id"], value["identity"], value["file_hash"]
    else:
        if not (args.file_id and args.key_file and args.hash):
            raise UsageError("download needs --ref REF.json, or FILE_ID, --key-file and --hash")
        _local.check_private_file(args.key_file)
        identity = _local.read_private(args.key_file).decode("utf-8", errors="replace")
        upload_id, hash_hex = args.file_id, args.hash.strip().lower()
    if len(upload_id) != 32 or not _HEX.fullmatch(upload_id):
        raise UsageError("a file id is 32 lowercase hex digits")
    if len(hash_hex) != 64 or not _HEX.fullmatch(hash_hex):
        raise UsageError("a file hash is 64 hex digits")
    try:
        agecrypt.parse_identities(identity)
    except agecrypt.AgeError:
        raise UsageError("the key is not an age identity") from None
    return files.FileRef(upload_id, identity, bytes.fromhex(hash_hex))


def _message_target(args, doc) -> Path:
    """Where a message's file goes: -o as given, a directory joined with the safe name,
    or the safe name here. Never outside the directory named."""
    name = filemessage.local_name(doc.name)
    if args.output is None:
        return Path.cwd() / name
    return args.output / name if args.output.is_dir() else args.output


def cmd_download(ctx) -> int:
    args = ctx.args
    if args.file_id is not None and ":" in args.file_id:  # download CONVERSATION:SEQ
        if args.message is not None:
            raise UsageError("give the message once (CONVERSATION:SEQ or --message)")
        args.message, args.file_id = args.file_id, None
    if args.message is not None:
        if args.file_id or args.ref or args.key_file or args.hash:
            raise UsageError("give either --message or a file id / --ref, not both")
        from .cli_messages import file_of_message  # it imports the messaging engine

        doc = file_of_message(ctx, args.message)
        ref, args.output = (files.FileRef(doc.upload_id, doc.identity, doc.file_hash),
                            _message_target(args, doc))
    elif args.output is None:
        raise UsageError("download needs -o OUTPUT (or --message CONVERSATION:SEQ)")
    else:
        ref = _file_ref(args, ctx.origin)
    with ctx.session() as session:
        try:
            size = files.download(session, ref, args.output, force=args.force)
        except FileHashMismatch as exc:
            print(f"securechat: error: {exc} [{exc.code}]; nothing was saved",
                  file=sys.stderr)
            return EXIT_FORGERY
    print(f"Saved {args.output} ({size} bytes, file_hash verified).")
    return 0


def cmd_file_key(ctx) -> int:
    if (ctx.args.ref is None) == (ctx.args.message is None):
        raise UsageError("file-key needs REF.json or --message CONVERSATION:SEQ")
    if ctx.args.message is not None:
        from .cli_messages import file_of_message

        print(file_of_message(ctx, ctx.args.message).identity)
        return 0
    value = _read_ref(ctx.args.ref)
    print(value["identity"])
    return 0


def cmd_archive(ctx) -> int:
    from . import archive
    from .cli_messages import _messenger

    messenger = _messenger(ctx)
    report = archive.run(messenger, ctx.args.dir, ctx.email())
    print(f"Archived into {ctx.args.dir}: {report.lines} new lines, {report.files} new files "
          f"in {report.conversations} conversations.")
    for problem in report.problems:
        print(f"securechat: error: {problem}", file=sys.stderr)
    return 1 if report.problems else 0


COMMANDS = {"upload": cmd_upload, "download": cmd_download, "file-key": cmd_file_key,
            "archive": cmd_archive}
