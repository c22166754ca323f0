"""Writes the sample's page images (dev/sample/files/*.png): small PNGs made for the purpose,
with the standard library only. Each is a plain page with a coloured band at the top and as
many dark bars as its page number, so the pages of one item tell apart at a glance.

    python3 dev/sample/make_files.py
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

FILES = Path(__file__).resolve().parent / "files"
WIDTH, HEIGHT = 120, 160

#: file name -> (band colour, page number)
PAGES = {
    "map-1.png": ((176, 48, 48), 1),
    "map-2.png": ((176, 48, 48), 2),
    "map-3.png": ((176, 48, 48), 3),
    "tokyo-1.png": ((48, 96, 176), 1),
    "letter-1.png": ((48, 144, 80), 1),
    "letter-2.png": ((48, 144, 80), 2),
    "poster-1.png": ((200, 150, 40), 1),
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def page(band: tuple[int, int, int], number: int) -> bytes:
    rows = []
    for y in range(HEIGHT):
        row = bytearray([0])  # filter: none
        for x in range(WIDTH):
            if y < 24:
                pixel = band
            elif 40 <= y < 40 + 14 * number and (y - 40) % 14 < 8 and 16 <= x < WIDTH - 16:
                pixel = (60, 60, 60)
            else:
                pixel = (245, 242, 232)
            row += bytes(pixel)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def main() -> None:
    FILES.mkdir(exist_ok=True)
    for name, (band, number) in PAGES.items():
        (FILES / name).write_bytes(page(band, number))


if __name__ == "__main__":
    main()
