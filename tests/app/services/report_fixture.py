"""A ``report.html`` for the report-page tests, written by the test (no training, no MIMIC data).

The report holds a table of two models, an image inline as a ``data:`` URI (solid red) and one
named by file (``curves.png``, solid blue, written beside it), and two things a served report
must not be able to do: a script that would write :data:`SCRIPT_MARK` into the page, and a meta
refresh to :data:`ESCAPE_PATH`.
"""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

RED = (255, 0, 0)
BLUE = (0, 0, 255)
IMAGE_SIZE = (120, 80)
SCRIPT_MARK = "report-script-ran"  # the script builds it: its source does not contain it
ESCAPE_PATH = "/escaped-the-report"
TABLE_ROWS = (("gamenet", "0.5055", "0.7579"), ("logistic regression", "0.5077", "0.7583"))


def solid_png(rgb: tuple[int, int, int], size: tuple[int, int] = IMAGE_SIZE) -> bytes:
    """A PNG of one colour."""
    width, height = size
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def write_report(artifact_dir: Path) -> None:
    """Write ``report.html`` and ``curves.png`` into ``artifact_dir``."""
    (artifact_dir / "curves.png").write_bytes(solid_png(BLUE))
    inline = base64.b64encode(solid_png(RED)).decode("ascii")
    rows = "".join(f"<tr><td>{m}</td><td>{j}</td><td>{p}</td></tr>" for m, j, p in TABLE_ROWS)
    (artifact_dir / "report.html").write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Evaluation report</title>"
        f'<meta http-equiv="refresh" content="0;url={ESCAPE_PATH}">'
        "<style>td,th{border:1px solid #333;padding:2px 6px}</style></head>"
        '<body class="report"><h1>Evaluation report</h1>'
        '<table id="report-models"><thead><tr><th>model</th><th>Jaccard</th><th>PR-AUC</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
        '<h2>PR curves</h2><img id="pr-curves" alt="PR curves" '
        f'src="data:image/png;base64,{inline}">'
        '<h2>Training curves</h2><img id="curves" alt="training curves" src="curves.png">'
        "<script>document.body.append(['report', 'script', 'ran'].join('-'))</script>"
        "</body></html>\n",
        encoding="utf-8",
    )
