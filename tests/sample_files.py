"""Files as partners and staff attach them, made here so every test knows their bytes: real images
(Pillow), a PNG whose header declares more pixels than any screen (a decompression bomb), programs
and web pages in disguise, a log and a HAR file."""

from __future__ import annotations

import io
import json
import struct
import zlib

from PIL import Image


def png(width: int = 64, height: int = 48, color=(200, 30, 90)) -> bytes:
    """A real PNG picture."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few hundred bytes declaring width × height pixels: decoding it would take gigabytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


# A Windows program's first bytes ("MZ", the DOS header, "PE" at the offset it names).
WINDOWS_PROGRAM = b"MZ\x90\x00\x03" + b"\x00" * 55 + struct.pack("<I", 64) + b"PE\x00\x00" + b"\x00" * 200
LINUX_PROGRAM = b"\x7fELF\x02\x01\x01" + b"\x00" * 100
WEB_PAGE = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
LOG = "2026-12-01 10:00:03 ERROR player: EDY-4031 token expirado (reproducción en Roku)\n".encode() * 20
HAR = json.dumps({"log": {"version": "1.2", "entries": [{"request": {"url": "https://edye.test/api"}}]}}).encode()
