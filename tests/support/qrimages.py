"""QR codes as a camera and a picture would show them, for the browser's scan tests.

:class:`FakeCamera` is the file Chromium's fake capture device plays
(``--use-file-for-fake-video-capture=PATH``, a YUV4MPEG2 file looped forever). Chromium
opens the file each time a capture starts (``getUserMedia``), not at launch — checked
when this was written: one browser, the file rewritten between two captures, each
capture showed the file of its own moment — so one browser per session can show each
test its own code: :meth:`FakeCamera.show` replaces the file atomically (a capture
under way keeps the frames it opened). Every file has the same size and rate, in case
Chromium remembers the format from its first enumeration.

The codes are made with ``segno`` (the server's TOTP QR library): byte mode, error
correction M, as static/js/v2/chat/qr.js draws them.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import segno

WIDTH, HEIGHT = 640, 480  # even sizes: the 4:2:0 chroma planes are half of each
QUIET_ZONE = 4
GREY = 128


def qr_modules(text: str) -> list[list[bool]]:
    """The code's modules (True = dark), with a four-module quiet zone."""
    code = segno.make(text, error="m", mode="byte", micro=False, boost_error=False)
    return [[bool(v) for v in row] for row in code.matrix_iter(scale=1, border=QUIET_ZONE)]


def qr_png(text: str, scale: int = 8) -> bytes:
    """The code as a PNG file (what a user would save from a screenshot)."""
    out = io.BytesIO()
    segno.make(text, error="m", mode="byte", micro=False, boost_error=False).save(
        out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()


def white_png(size: int = 64) -> bytes:
    """A white square PNG (8-bit grey): a picture with no code in it."""
    rows = b"".join(b"\x00" + b"\xff" * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def luma_frame(modules: list[list[bool]] | None) -> bytes:
    """A WIDTH×HEIGHT luma plane: the code centred on white, scaled to whole pixels per
    module; mid grey for no code."""
    if modules is None:
        return bytes([GREY]) * (WIDTH * HEIGHT)
    size = len(modules)
    scale = min(WIDTH, HEIGHT) // size
    if scale < 2:
        raise ValueError(f"a {size}-module code does not fit a {WIDTH}x{HEIGHT} frame")
    left, top = (WIDTH - size * scale) // 2, (HEIGHT - size * scale) // 2
    plane = bytearray([255]) * (WIDTH * HEIGHT)
    for y, row in enumerate(modules):
        line = b"".join(b"\x00" * scale if dark else b"\xff" * scale for dark in row)
        for dy in range(scale):
            start = (top + y * scale + dy) * WIDTH + left
            plane[start:start + len(line)] = line
    return bytes(plane)


def y4m(luma: bytes) -> bytes:
    """One YUV4MPEG2 frame, 4:2:0 with full-range (JPEG) levels and neutral chroma."""
    header = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 Ip A1:1 C420jpeg\n".encode()
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    return header + b"FRAME\n" + luma + chroma + chroma


class FakeCamera:
    """The Y4M file Chromium's fake camera plays (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.show(None)

    @property
    def chromium_args(self) -> list[str]:
        return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={self.path}"]

    def show(self, text: str | None) -> None:
        """From the next capture on, the camera sees the QR code of ``text`` (None: grey)."""
        data = y4m(luma_frame(None if text is None else qr_modules(text)))
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_bytes(data)
        os.replace(partial, self.path)
