"""Crypto benchmark for agecrypt (DESIGN.md §10).

Run from the repository root:

    .venv/bin/python bench/crypto.py            # full run (256 MiB CLI file, 1 GiB RSS stream)
    .venv/bin/python bench/crypto.py --quick    # smaller sizes, fewer repetitions

Prints one Markdown table. Every figure is compared with a baseline measured
in the same run (raw ChaCha20-Poly1305 from `cryptography`, the `age` CLI,
typage's header sizes), so ratios stay meaningful on a noisy machine. Times
are medians over repetitions after a warm-up. If a throughput goal is missed
a cProfile summary of agecrypt's streaming path follows the table.
"""

from __future__ import annotations

# The child-process modes come first and import only what they need, so that a
# `--child-*` subprocess starts as fast as `python -c "import agecrypt"` (its
# start-up is timed against the age CLI's).
import io
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

MiB = 1024 * 1024
CHUNK = 64 * 1024


class NullSink(io.RawIOBase):
    """A writable file object that discards everything (like /dev/null, no syscalls)."""

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        return len(b)


# ---------------------------------------------------------------------------
# child-process modes (file-to-file agecrypt CLI equivalent, RSS probe)


def child_encrypt(src: str, dst: str, recipient: str) -> None:
    import agecrypt

    r = _parse_recipient(agecrypt, recipient)
    with open(src, "rb", buffering=0) as fin, open(dst, "wb") as fout:
        with agecrypt.Encryptor(fout, [r]) as enc:
            while piece := fin.read(MiB):
                enc.write(piece)


def child_decrypt(src: str, dst: str, identity_file: str) -> None:
    import agecrypt

    with open(identity_file) as f:
        ident = _parse_identity(agecrypt, f.read().split()[-1])
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for piece in agecrypt.decrypt_stream(fin, [ident]):
            fout.write(piece)


def _parse_recipient(agecrypt, s: str):
    if s.startswith("age1pq1"):
        return agecrypt.HybridRecipient.from_string(s)
    return agecrypt.X25519Recipient.from_string(s)


def _parse_identity(agecrypt, s: str):
    if s.startswith("AGE-SECRET-KEY-PQ-1"):
        return agecrypt.HybridIdentity.from_string(s)
    return agecrypt.X25519Identity.from_string(s)


def peak_rss_kib() -> int:
    """High-water RSS of this process image, in KiB.

    ``VmHWM`` from /proc is per address space, so it starts afresh at exec.
    ``ru_maxrss`` does not: Linux carries the parent's high-water mark across
    fork+exec, so a child of a big parent would report the parent's peak as its
    own baseline and hide its growth. ``ru_maxrss`` is the fallback off Linux.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_rss(
    mode: str, nbytes: int, path: str | None, identity: str | None, recipient: str | None
) -> None:
    """Stream `nbytes` through agecrypt and print JSON {baseline_kib, peak_kib}.

    encrypt: writes a repeating 1 MiB buffer into an Encryptor over a null sink.
    decrypt: decrypts the file at `path` with decrypt_stream into a null sink.
    The peak RSS is a high-water mark, so the baseline is taken after imports,
    key parsing and the allocation of the input buffer, right before streaming.
    """
    import agecrypt

    if mode == "encrypt":
        piece = os.urandom(MiB)
        r = _parse_recipient(agecrypt, recipient)
        base = peak_rss_kib()
        sink = NullSink()
        with agecrypt.Encryptor(sink, [r]) as enc:
            left = nbytes
            while left > 0:
                enc.write(piece if left >= MiB else piece[:left])
                left -= MiB
    elif mode == "oneshot":  # control: whole-file decrypt() holds input and output in memory
        ident = _parse_identity(agecrypt, identity)
        base = peak_rss_kib()
        with open(path, "rb") as fin:
            total = len(agecrypt.decrypt(fin.read(), [ident]))
        if total != nbytes:
            sys.exit(f"decrypted {total} bytes, expected {nbytes}")
    else:
        ident = _parse_identity(agecrypt, identity)
        base = peak_rss_kib()
        total = 0
        with open(path, "rb") as fin:
            for out in agecrypt.decrypt_stream(fin, [ident]):
                total += len(out)
        if total != nbytes:
            sys.exit(f"decrypted {total} bytes, expected {nbytes}")
    peak = peak_rss_kib()
    import json

    print(json.dumps({"baseline_kib": base, "peak_kib": peak}))


def _child_main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    if mode == "--child-encrypt":
        child_encrypt(*args)
    elif mode == "--child-decrypt":
        child_decrypt(*args)
    elif mode == "--child-rss":
        child_rss(args[0], int(args[1]), *args[2:])
    else:
        sys.exit(f"unknown child mode {mode}")


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
    _child_main(sys.argv[1:])
    sys.exit(0)

# ---------------------------------------------------------------------------
# parent (the benchmark itself)

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime as _dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

# ---------------------------------------------------------------------------
# helpers


def median_time(fn, reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(variants: dict, reps: int) -> dict[str, float]:
    """The median seconds of each ``name: (fn, *args)`` after one warm-up call each.

    Every repetition runs every variant once, so that a change in machine load (other
    processes on the 2 cores) hits baseline and subject alike."""
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for fn, *args in variants.values():  # warm-up
        fn(*args)
    for _ in range(reps):
        for name, (fn, *args) in variants.items():
            t0 = time.perf_counter()
            fn(*args)
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(times) for name, times in samples.items()}


def fmt_mbs(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e6:,.0f} MB/s"


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.missed: list[str] = []
        self.notes: list[str] = []

    def add(self, what, value, baseline="—", ratio=None, goal="—", met=None) -> None:
        r = "—" if ratio is None else f"{ratio:.2f}"
        m = "—" if met is None else ("yes" if met else "**no**")
        if met is False:
            self.missed.append(what)
        self.rows.append((what, value, baseline, r, goal, m))
        print(
            f"  [{len(self.rows):2d}] {what}: {value} "
            f"(baseline {baseline}, ratio {r}, goal {goal}, met {m})",
            file=sys.stderr,
            flush=True,
        )

    def markdown(self) -> str:
        head = ("what", "value", "baseline", "ratio", "goal", "met?")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"bench/crypto.py: `{tool}` not found on PATH (the Makefile installs it)")
    return path


def run(args, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, **kw)
    if proc.returncode != 0:
        sys.exit(
            f"bench/crypto.py: {' '.join(map(str, args))} failed ({proc.returncode}): "
            f"{proc.stderr.decode(errors='replace')[-2000:]}"
        )
    return proc


def header_len(ct: bytes) -> int:
    """Length of the age header including the MAC line and its newline."""
    i = ct.index(b"\n--- ")
    return ct.index(b"\n", i + 1) + 1


# ---------------------------------------------------------------------------
# measurements


def _raw_aead_variants(chunks: list) -> dict:
    """Raw ChaCha20-Poly1305 over ``chunks`` with age's STREAM nonces: the baseline."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    n = len(chunks)
    aead = ChaCha20Poly1305(os.urandom(32))
    nonces = [i.to_bytes(11, "big") + (b"\x01" if i == n - 1 else b"\x00") for i in range(n)]

    def raw_encrypt():
        enc = aead.encrypt
        for i in range(n):
            enc(i.to_bytes(11, "big") + (b"\x01" if i == n - 1 else b"\x00"), chunks[i], None)

    sealed = [aead.encrypt(nonces[i], chunks[i], None) for i in range(n)]

    def raw_decrypt():
        dec = aead.decrypt
        for i in range(n):
            dec(i.to_bytes(11, "big") + (b"\x01" if i == n - 1 else b"\x00"), sealed[i], None)

    return {"raw_e": (raw_encrypt,), "raw_d": (raw_decrypt,)}


def _agecrypt_variants(agecrypt, data: bytes, chunks: list, ident, rcpt) -> dict:
    """agecrypt's streaming encryption (64 KiB and 1 MiB writes) and decryption."""
    mv = memoryview(data)

    def age_encrypt():
        with agecrypt.Encryptor(NullSink(), [rcpt]) as enc:
            for c in chunks:
                enc.write(c)

    def age_encrypt_1m():
        with agecrypt.Encryptor(NullSink(), [rcpt]) as enc:
            for i in range(0, len(data), MiB):
                enc.write(mv[i : i + MiB])

    ct = agecrypt.encrypt(data, [rcpt])

    def age_decrypt():
        for _ in agecrypt.decrypt_stream(io.BytesIO(ct), [ident]):
            pass

    return {"age_e": (age_encrypt,), "age_e1m": (age_encrypt_1m,), "age_d": (age_decrypt,)}


def bench_throughput(t: Table, agecrypt, size: int, reps: int) -> dict:
    """agecrypt streaming vs raw ChaCha20-Poly1305 over the same 64 KiB chunks, in this process."""
    data = os.urandom(size)
    mv = memoryview(data)
    chunks = [mv[i : i + CHUNK] for i in range(0, size, CHUNK)]
    ident = agecrypt.X25519Identity.generate()
    rcpt = ident.recipient()
    medians = interleaved_medians(
        {**_raw_aead_variants(chunks), **_agecrypt_variants(agecrypt, data, chunks, ident, rcpt)},
        reps)
    res = {}
    for what, subj, base in (
        ("encrypt, 64 KiB writes", medians["age_e"], medians["raw_e"]),
        ("encrypt, 1 MiB writes", medians["age_e1m"], medians["raw_e"]),
        ("decrypt (decrypt_stream)", medians["age_d"], medians["raw_d"]),
    ):
        ratio = base / subj
        t.add(
            f"stream {what}, {size // MiB} MiB in memory (MB/s)",
            fmt_mbs(size, subj),
            f"raw ChaCha20Poly1305 {fmt_mbs(size, base)}",
            ratio,
            "≥ 0.85",
            ratio >= 0.85,
        )
        res[what] = ratio
    return {"data": data, "ident": ident, "rcpt": rcpt, "ratios": res}


def _cli_key_and_plaintext(workdir: Path, size: int) -> tuple[Path, str, Path]:
    """An age-keygen key (file, recipient) and a ``size``-byte plaintext file."""
    keygen = need("age-keygen")
    keyfile = workdir / "key.txt"
    run([keygen, "-o", str(keyfile)])
    recipient = run([keygen, "-y", str(keyfile)]).stdout.decode().strip()
    plain = workdir / "plain.bin"
    with open(plain, "wb") as f:
        block = os.urandom(MiB)
        for _ in range(size // MiB):
            f.write(block)
    return keyfile, recipient, plain


def _check_cli_interop(age: str, keyfile: Path, plain: Path, cli_ct: Path, py_ct: Path,
                       out: Path) -> None:
    """Each side decrypts the other's file to the original plaintext (a sanity check)."""
    digest = hashlib.sha256(plain.read_bytes()).hexdigest()
    run([age, "-d", "-i", str(keyfile), "-o", str(out), str(py_ct)])
    if hashlib.sha256(out.read_bytes()).hexdigest() != digest:
        sys.exit("age CLI did not decrypt agecrypt's benchmark file to the plaintext")
    child_decrypt(str(cli_ct), str(out), str(keyfile))
    if hashlib.sha256(out.read_bytes()).hexdigest() != digest:
        sys.exit("agecrypt did not decrypt the age CLI's benchmark file to the plaintext")


def bench_cli(t: Table, size: int, reps: int, workdir: Path, profile: bool = False) -> None:
    """age CLI vs agecrypt (as a Python subprocess), file to file on tmpfs."""
    age = need("age")
    keyfile, recipient, plain = _cli_key_and_plaintext(workdir, size)
    cli_ct, py_ct = workdir / "cli.age", workdir / "py.age"
    out = workdir / "out.bin"
    me = [sys.executable, str(Path(__file__).resolve())]
    # The CLI and agecrypt as subprocesses, the same agecrypt code in this process (no
    # interpreter start), and a bare `python -c "import agecrypt"` (start-up alone).
    m = interleaved_medians({
        "cli_e": (run, [age, "-e", "-r", recipient, "-o", str(cli_ct), str(plain)]),
        "py_e": (run, me + ["--child-encrypt", str(plain), str(py_ct), recipient]),
        "ip_e": (child_encrypt, str(plain), str(py_ct), recipient),
        "cli_d": (run, [age, "-d", "-i", str(keyfile), "-o", str(out), str(cli_ct)]),
        "py_d": (run, me + ["--child-decrypt", str(py_ct), str(out), str(keyfile)]),
        "ip_d": (child_decrypt, str(py_ct), str(out), str(keyfile)),
        "start": (run, [sys.executable, "-c", "import agecrypt"]),
    }, reps)
    _check_cli_interop(age, keyfile, plain, cli_ct, py_ct, out)
    for what, subj, base in (("encrypt", m["py_e"], m["cli_e"]),
                             ("decrypt", m["py_d"], m["cli_d"])):
        ratio = base / subj
        t.add(
            f"file {what} {size // MiB} MiB, tmpfs → tmpfs, subprocess wall time (MB/s)",
            f"{fmt_mbs(size, subj)} ({subj:.3f} s)",
            f"age CLI {fmt_mbs(size, base)} ({base:.3f} s)",
            ratio,
            "≥ 1.0",
            ratio >= 1.0,
        )
    t.add("python -c 'import agecrypt' start-up (included above)", f"{m['start'] * 1000:.0f} ms")
    for what, subj, base in (("encrypt", m["ip_e"], m["cli_e"]),
                             ("decrypt", m["ip_d"], m["cli_d"])):
        t.add(
            f"file {what} {size // MiB} MiB, same code in-process, no process start (MB/s)",
            f"{fmt_mbs(size, subj)} ({subj:.3f} s)",
            f"age CLI subprocess {fmt_mbs(size, base)} ({base:.3f} s)",
            base / subj,
        )
    if profile or m["cli_e"] / m["py_e"] < 1.0 or m["cli_d"] / m["py_d"] < 1.0:
        t.notes.append(profile_file(plain, py_ct, out, recipient, keyfile, size))


def bench_wrap(t: Table, agecrypt, reps: int) -> None:
    """Per-recipient cost of wrapping/unwrapping the file key, X25519 and hybrid.

    Measured two ways: directly on the recipient's ``_wrap`` / identity's
    ``_unwrap_stanza`` (agecrypt's internal seam, if present), and through the
    public API as the difference between encrypting an empty file to 11 and to
    1 recipients. Baselines are the bare primitives from ``cryptography``:
    X25519 key generation + DH, and HPKE MLKEM768-X25519 seal/open of 16 bytes.
    """
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric import x25519

    k = 10  # extra recipients for the public-API differential
    many = reps * 300
    fk = os.urandom(16)

    # --- raw baselines
    xa = x25519.X25519PrivateKey.generate()
    xb_pub = x25519.X25519PrivateKey.generate().public_key()

    def raw_x_wrap():
        e = x25519.X25519PrivateKey.generate()
        e.exchange(xb_pub)
        e.public_key().public_bytes_raw()

    def raw_x_unwrap():
        xa.exchange(xb_pub)

    suite = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    from cryptography.hazmat.primitives.asymmetric import mlkem

    msk = mlkem.MLKEM768PrivateKey.generate()
    hxsk = x25519.X25519PrivateKey.generate()
    hsk = hpke.MLKEM768X25519PrivateKey(msk, hxsk)
    hpk = hpke.MLKEM768X25519PublicKey(msk.public_key(), hxsk.public_key())
    info = b"age-encryption.org/mlkem768x25519"
    sealed = suite.encrypt(fk, hpk, info=info)
    base = {
        "X25519": (
            median_time(raw_x_wrap, many),
            median_time(raw_x_unwrap, many),
            "X25519 keygen + DH",
            "X25519 DH",
        ),
        "hybrid": (
            median_time(lambda: suite.encrypt(fk, hpk, info=info), many),
            median_time(lambda: suite.decrypt(sealed, hsk, info=info), many),
            "HPKE MLKEM768-X25519 seal",
            "HPKE MLKEM768-X25519 open",
        ),
    }

    for name, make in (
        ("X25519", agecrypt.X25519Identity.generate),
        ("hybrid", agecrypt.HybridIdentity.generate),
    ):
        _wrap_rows(t, agecrypt, name, make, base[name], fk, k, many, reps)


def _wrap_rows(t: Table, agecrypt, name, make, base, fk, k, many, reps) -> None:
    bw, bu, wname, uname = base
    ids = [make() for _ in range(k + 1)]
    rs = [i.recipient() for i in ids]
    if hasattr(rs[0], "_wrap") and hasattr(ids[0], "_unwrap_stanza"):
        stanza = rs[0]._wrap(fk)[0]
        if ids[0]._unwrap_stanza(stanza) != fk:
            sys.exit(f"{name}: _unwrap_stanza did not return the wrapped file key")
        wrap = median_time(lambda: rs[0]._wrap(fk), many)
        unwrap = median_time(lambda: ids[0]._unwrap_stanza(stanza), many)
        miss = median_time(lambda: ids[1]._unwrap_stanza(stanza), many)
        t.add(
            f"{name}: wrap file key for 1 recipient (µs)",
            f"{wrap * 1e6:,.0f} µs",
            f"raw {wname} {bw * 1e6:,.0f} µs",
            wrap / bw,
        )
        t.add(
            f"{name}: unwrap file key, matching stanza (µs)",
            f"{unwrap * 1e6:,.0f} µs",
            f"raw {uname} {bu * 1e6:,.0f} µs",
            unwrap / bu,
        )
        t.add(
            f"{name}: try a stanza for another key (µs)",
            f"{miss * 1e6:,.0f} µs",
            f"raw {uname} {bu * 1e6:,.0f} µs",
            miss / bu,
        )
    one = median_time(lambda: agecrypt.encrypt(b"", rs[:1]), reps * 30)
    eleven = median_time(lambda: agecrypt.encrypt(b"", rs), reps * 10)
    per = (eleven - one) / k
    t.add(
        f"{name}: encrypt() cost per extra recipient ((11 rcpts − 1) / 10, µs)",
        f"{per * 1e6:,.0f} µs",
        f"raw {wname} {bw * 1e6:,.0f} µs",
        per / bw,
    )
    ct1 = agecrypt.encrypt(b"", rs[:1])
    dec1 = median_time(lambda: agecrypt.decrypt(ct1, [ids[0]]), reps * 30)
    t.add(
        f"{name}: decrypt() of an empty 1-recipient file, all included (µs)",
        f"{dec1 * 1e6:,.0f} µs",
        f"raw {uname} {bu * 1e6:,.0f} µs",
        dec1 / bu,
    )


def bench_header(t: Table, agecrypt, workdir: Path) -> None:
    """Stored header bytes for 1, 2, 3 recipients, vs the reference implementations."""
    node = shutil.which("node")
    js = Path(ROOT) / "tests" / "agecrypt" / "js"
    age = shutil.which("age")

    def ref_header(recipients: list[str]) -> int | None:
        if recipients[0].startswith("age1pq1"):
            if not node or not (Path(ROOT) / "node_modules" / "age-encryption").is_dir():
                return None
            out = run([node, str(js / "encrypt.mjs"), *recipients], input=b"", cwd=ROOT).stdout
        else:
            if not age:
                return None
            out = run([age, "-e", *sum((["-r", r] for r in recipients), [])], input=b"").stdout
        return header_len(out)

    for name, make, ref in (
        ("X25519", agecrypt.X25519Identity.generate, "age CLI"),
        ("hybrid", agecrypt.HybridIdentity.generate, "typage"),
    ):
        rs = [make().recipient() for _ in range(3)]
        lens = []
        for n in (1, 2, 3):
            mine = header_len(agecrypt.encrypt(b"", rs[:n]))
            theirs = ref_header([str(r) for r in rs[:n]])
            lens.append(mine)
            t.add(
                f"{name} header bytes, {n} recipient{'s' if n > 1 else ''}",
                f"{mine:,} B",
                f"{ref} {theirs:,} B" if theirs else f"{ref} not installed",
                mine / theirs if theirs else None,
                "= reference" if theirs else "—",
                mine == theirs if theirs else None,
            )
        t.add(f"{name} header bytes per additional recipient", f"{(lens[2] - lens[0]) / 2:,.0f} B")


def bench_rss(t: Table, nbytes: int, workdir: Path) -> None:
    """Peak RSS above the interpreter's baseline while streaming `nbytes` (child processes).

    A control run decrypts a 64 MiB file with one-shot ``decrypt()``, which
    must show about twice its size, to prove the probe sees allocations.
    """
    import agecrypt

    ident = agecrypt.X25519Identity.generate()
    rcpt = str(ident.recipient())
    me = [sys.executable, str(Path(__file__).resolve())]

    def make_ct(path: Path, size: int) -> None:
        # ciphertext for the decrypt probes, made with the age CLI if present (fast), else agecrypt
        age = shutil.which("age")
        with open(path, "wb") as f:
            if age:
                gen = subprocess.Popen(
                    ["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE
                )
                subprocess.run([age, "-e", "-r", rcpt], stdin=gen.stdout, stdout=f, check=True)
                gen.wait()
            else:
                with agecrypt.Encryptor(f, [ident.recipient()]) as enc:
                    zero = bytes(MiB)
                    for _ in range(size // MiB):
                        enc.write(zero)

    def probe(mode: str, size: int, path: Path) -> tuple[float, float]:
        args = me + ["--child-rss", mode, str(size), str(path), str(ident), rcpt]
        res = json.loads(run(args).stdout)
        return (res["peak_kib"] - res["baseline_kib"]) / 1024, res["baseline_kib"] / 1024

    ct_path = workdir / "rss.age"
    make_ct(ct_path, nbytes)
    for mode in ("encrypt", "decrypt"):
        delta, base = probe(mode, nbytes, ct_path)
        t.add(
            f"peak RSS above baseline, streaming {mode} of {nbytes / MiB / 1024:g} GiB (VmHWM)",
            f"{delta:.1f} MiB",
            f"baseline after imports {base:.1f} MiB",
            delta / 64,
            "< 64 MiB",
            delta < 64,
        )
    ct_path.unlink()
    ctl = 64 * MiB
    make_ct(ct_path, ctl)
    delta, base = probe("oneshot", ctl, ct_path)
    t.add(
        "control: one-shot decrypt() of 64 MiB, same probe (must show ≥ 128 MiB)",
        f"{delta:.1f} MiB",
        f"baseline after imports {base:.1f} MiB",
    )
    ct_path.unlink()


def profile_file(plain: Path, py_ct: Path, out: Path, recipient: str, keyfile: Path, size: int):
    """Where a file-to-file run spends its time: cProfile in-process, plus import cost."""

    def top(fn, *args) -> str:
        prof = cProfile.Profile()
        prof.runcall(fn, *args)
        s = io.StringIO()
        st = pstats.Stats(prof, stream=s).sort_stats("tottime")
        st.print_stats(8)
        text = s.getvalue()
        body = text[text.index("ncalls") :] if "ncalls" in text else text
        return f"{st.total_tt:.3f} s in-process\n{body.rstrip()}"

    imp = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import agecrypt"],
        capture_output=True,
        text=True,
    ).stderr.splitlines()
    # every module whose import took over 4 ms cumulative, in import order, indented as nested
    rows = []
    for line in imp:
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            if int(parts[1]) > 4000:
                rows.append(f"{int(parts[1]) / 1000:7.1f} ms {parts[2].rstrip()}")
    imports = "\n".join(rows)
    return (
        f"cProfile of the file-to-file code in-process ({size // MiB} MiB, tmpfs), top 8 by own"
        f" time:\n\n```\nencrypt: {top(child_encrypt, str(plain), str(py_ct), recipient)}\n\n"
        f"decrypt: {top(child_decrypt, str(py_ct), str(out), str(keyfile))}\n```\n\n"
        f"`python -X importtime -c 'import agecrypt'`, modules over 4 ms"
        f" (cumulative, nested):\n\n```\n{imports}\n```"
    )


def profile_stream(agecrypt, size: int) -> str:
    data = os.urandom(size)
    ident = agecrypt.X25519Identity.generate()
    rcpt = ident.recipient()
    ct = agecrypt.encrypt(data, [rcpt])
    mv = memoryview(data)

    def work():
        with agecrypt.Encryptor(NullSink(), [rcpt]) as enc:
            for i in range(0, size, CHUNK):
                enc.write(mv[i : i + CHUNK])
        for _ in agecrypt.decrypt_stream(io.BytesIO(ct), [ident]):
            pass

    prof = cProfile.Profile()
    prof.runcall(work)
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(15)
    return s.getvalue()


def machine() -> str:
    import cryptography

    model = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    age_v = "?"
    if shutil.which("age"):
        age_v = subprocess.run(["age", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} CPUs, {model}; Python {platform.python_version()}; "
        f"cryptography {cryptography.__version__}; age CLI {age_v}; "
        f"{_dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    p.add_argument("--reps", type=int, help="repetitions per timing (median)")
    p.add_argument("--cli-mib", type=int, help="file size for the age CLI comparison (MiB)")
    p.add_argument("--rss-mib", type=int, help="stream size for the RSS probe (MiB)")
    p.add_argument("--mem-mib", type=int, help="in-memory size for the throughput comparison (MiB)")
    p.add_argument("--profile", action="store_true", help="always print the cProfile summary")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["throughput", "cli", "wrap", "header", "rss"],
        help="skip a section",
    )
    a = p.parse_args(argv)

    reps = a.reps or (3 if a.quick else 7)
    cli_mib = a.cli_mib or (64 if a.quick else 256)
    rss_mib = a.rss_mib or (256 if a.quick else 1024)
    mem_mib = a.mem_mib or (16 if a.quick else 64)

    import agecrypt

    tmp_root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    t = Table()
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="agecrypt-bench-", dir=tmp_root) as d:
        workdir = Path(d)
        if "throughput" not in a.skip:
            ratios = bench_throughput(t, agecrypt, mem_mib * MiB, max(reps, 9))["ratios"]
        if "cli" not in a.skip:
            bench_cli(t, cli_mib * MiB, reps, workdir, a.profile)
        if "wrap" not in a.skip:
            bench_wrap(t, agecrypt, reps)
        if "header" not in a.skip:
            bench_header(t, agecrypt, workdir)
        if "rss" not in a.skip:
            bench_rss(t, rss_mib * MiB, workdir)

    cmd = "python bench/crypto.py" + (
        "".join(f" {x}" for x in (argv if argv is not None else sys.argv[1:]))
    )
    print(f"Machine: {machine()}  ")
    print(f"Command: `{cmd}` (temporary files on {tmp_root or tempfile.gettempdir()})\n")
    print(t.markdown())
    if t.missed:
        print("\nGoals missed: " + "; ".join(t.missed))
    for note in t.notes:
        print("\n" + note)
    if a.profile or any(r < 0.85 for r in ratios.values()):
        print(
            f"\ncProfile, agecrypt stream encrypt + decrypt of {mem_mib} MiB"
            " (top 15 by own time):\n"
        )
        print("```")
        print(profile_stream(agecrypt, mem_mib * MiB).strip())
        print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
