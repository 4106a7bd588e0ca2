"""The report page in a real browser: headless Chromium renders what a real server serves.

A real ``medrec serve`` (``tests.app.server``) serves a version's report; Chromium cannot send
the ``X-API-Key`` header, so it loads the page through a small local proxy that adds the admin's
key (as a reverse proxy in front of MedRec would) and relays the answer's headers, the
Content-Security-Policy included. The test reads the page's DOM (``--dump-dom``) and a screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from app.admin import register_model
from tests.app.factories import write_recommender_artifact
from tests.app.server import prepare_home, serving
from tests.app.services.report_fixture import (
    BLUE,
    ESCAPE_PATH,
    IMAGE_SIZE,
    RED,
    SCRIPT_MARK,
    TABLE_ROWS,
    write_report,
)

CHROMIUM = shutil.which("chromium")
RELAYED = ("content-type", "content-security-policy", "x-content-type-options", "cache-control")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (Debian: apt-get install -y chromium); "
        "the report page's browser test needs it",
    ),
]


@contextlib.contextmanager
def key_proxy(base: str, key: str) -> Iterator[tuple[str, list[str]]]:
    """A proxy on 127.0.0.1 that GETs ``base`` with the key; yields its URL and the paths asked."""
    asked: list[str] = []

    class Relay(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            answer = httpx.get(base + self.path, headers={"X-API-Key": key}, timeout=30)
            self.send_response(answer.status_code)
            for name in RELAYED:
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def chromium(profile: Path, *args: str) -> str:
    """Run headless Chromium with ``args``; return its stdout."""
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # containers and root: the test's page is the sandboxed part
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class PageParts(HTMLParser):
    """The tables (id → rows of cell texts) and the ``<img>`` sources of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "table":
            self._table = attr.get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images[attr.get("id") or f"img-{len(self.images)}"] = attr.get("src") or ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None


def _colour_share(image: object, rgb: tuple[int, int, int]) -> int:
    """How many pixels of ``image`` (a PIL image) are exactly ``rgb``."""
    colours = image.convert("RGB").getcolors(maxcolors=1 << 24)  # type: ignore[attr-defined]
    return sum(n for n, c in colours if c == rgb)


def test_chromium_renders_the_report_s_tables_and_images(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    settings, key = prepare_home(tmp_path / "home", f"sqlite:///{tmp_path / 'medrec.db'}")
    v2 = settings.artifacts_dir / "gamenet-v2"
    write_recommender_artifact(v2, version=2, seed=1)
    write_report(v2)
    register_model(settings, v2)
    shot = tmp_path / "report.png"
    with serving(settings) as (_, base), key_proxy(base, key) as (proxy, asked):
        url = f"{proxy}/v1/models/gamenet/versions/2/report"
        dom = chromium(tmp_path / "profile", "--virtual-time-budget=3000", "--dump-dom", url)
        chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1000,1200", url)

    parts = PageParts()
    parts.feed(dom)
    assert parts.tables["report-models"][1:] == [list(row) for row in TABLE_ROWS]
    metrics = parts.tables["medrec-metrics"]
    assert metrics[0] == ["metric", "gamenet v2 (registered)", "gamenet v1 (active)", "difference"]
    assert ["test jaccard", "0.4200 ± 0.0100", "0.4200 ± 0.0100", "+0.0000"] in metrics
    assert set(parts.images) == {"pr-curves", "curves"}
    for name, colour in (("pr-curves", RED), ("curves", BLUE)):
        scheme, _, data = parts.images[name].partition(",")
        assert scheme == "data:image/png;base64", name
        png = image.open(io.BytesIO(base64.b64decode(data)))
        assert (
            png.size == IMAGE_SIZE and _colour_share(png, colour) == IMAGE_SIZE[0] * IMAGE_SIZE[1]
        )
    # The policy held: the report's script did not run and its meta refresh was not followed.
    assert SCRIPT_MARK not in dom
    assert ESCAPE_PATH not in asked and asked[0].endswith("/versions/2/report")

    screenshot = image.open(shot)
    assert screenshot.size == (1000, 1200)
    assert len(screenshot.convert("RGB").getcolors(maxcolors=1 << 24)) > 2  # not blank
    for colour in (RED, BLUE):  # both images were drawn, at their full size
        assert _colour_share(screenshot, colour) >= IMAGE_SIZE[0] * IMAGE_SIZE[1]
