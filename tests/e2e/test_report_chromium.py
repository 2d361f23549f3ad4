"""The HTML report of the lab drill renders in headless Chromium (Debian's `chromium`).

A screenshot of the report must show the timeline (a real PNG, not blank, with the
step bars' colour painted over about their area), and the DOM Chromium renders must
hold the SVG timeline with one `rect.bar` per step of report.json.
The drill is the one test_drill_lab.py runs (shared per session).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_drill_lab import Lab, acquire_lab_drill, release_lab

CHROMIUM = Path("/usr/bin/chromium")
SUCCEEDED_RGB = (0x2E, 0x7D, 0x32)  # reporting/timeline.py COLOURS["succeeded"]
WIDTH, HEIGHT = 1200, 1600

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: `scripts/bootstrap.sh --services` installs Debian's chromium")


@pytest.fixture(scope="session")
def lab_report(s3_endpoint, ssh_server, pg_clusters, tmp_path_factory):
    try:
        yield acquire_lab_drill(tmp_path_factory)
    finally:
        release_lab()


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, unfiltered rows, bytes per pixel) of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


class _Svg(HTMLParser):
    """Collects the timeline <svg> and its `rect.bar` elements from a rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[dict[str, str | None]] = []
        self.bars: list[dict[str, str | None]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg":
            self.svgs.append(a)
            self._depth += 1
        elif tag == "rect" and self._depth and "bar" in (a.get("class") or "").split():
            self.bars.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._depth -= 1


def _report(lab: Lab) -> tuple[Path, dict[str, Any]]:
    assert lab.report_dir is not None and lab.drill is not None
    assert lab.drill.returncode == 0, "\n".join(lab.logs[-1:])
    html = lab.report_dir / "report.html"
    return html, json.loads((lab.report_dir / "report.json").read_text())


def test_rendered_dom_has_the_timeline_with_one_bar_per_step(lab_report, tmp_path):
    html, data = _report(lab_report)
    out = chromium("--dump-dom", html.as_uri(), profile=tmp_path / "profile")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "<h2>Timeline</h2>" in out.stdout, out.stdout[:500]
    dom = _Svg()
    dom.feed(out.stdout)
    assert [s.get("class") for s in dom.svgs] == ["timeline"], "exactly one SVG timeline"
    drawn = [s for s in data["steps"] if s["start_s"] is not None]
    assert len(drawn) == len(data["steps"]) == 9
    assert [b.get("data-step") for b in dom.bars] == [s["key"] for s in drawn]  # in start order
    assert all(b.get("data-status") == "succeeded" for b in dom.bars)
    assert all(float(b.get("width") or 0) >= 2 for b in dom.bars)
    # Bars sit on separate rows, each later step starting no earlier than the one before.
    ys = [float(b.get("y") or 0) for b in dom.bars]
    xs = [float(b.get("x") or 0) for b in dom.bars]
    assert ys == sorted(set(ys)) and xs == sorted(xs)
    assert re.search(r"plan RTO 10m", out.stdout), "the plan RTO line is labelled"


Rect = tuple[int, int, int, int]  # x, y, width, height in pixels


def solid_rects(rows: list[bytes], bpp: int, rgb: tuple[int, int, int], min_w: int = 3) -> list[Rect]:
    """Rectangles (x, y, width, height) painted exactly in `rgb`: a horizontal run of that
    colour repeated on consecutive rows. Text never repeats one run row after row."""
    colour = bytes(rgb)
    open_runs: dict[tuple[int, int], int] = {}  # (x0, x1) -> first row
    found: list[Rect] = []
    for y, row in enumerate([*rows, b""]):
        runs: set[tuple[int, int]] = set()
        x, width = 0, len(row) // bpp
        while x < width:
            if row[x * bpp:x * bpp + 3] == colour:
                x0 = x
                while x < width and row[x * bpp:x * bpp + 3] == colour:
                    x += 1
                if x - x0 >= min_w:
                    runs.add((x0, x))
            x += 1
        for run in [r for r in open_runs if r not in runs]:
            y0 = open_runs.pop(run)
            found.append((run[0], y0, run[1] - run[0], y - y0))
        for run in runs:
            open_runs.setdefault(run, y)
    return found


def test_screenshot_shows_the_timeline(lab_report, tmp_path):
    html, data = _report(lab_report)
    png = tmp_path / "report.png"
    out = chromium(f"--screenshot={png}", html.as_uri(), profile=tmp_path / "profile")
    assert out.returncode == 0 and png.exists(), out.stderr[-2000:]
    raw = png.read_bytes()
    assert len(raw) > 10_000, "a near-empty PNG"
    width, height, rows, bpp = decode_png(raw)
    assert (width, height) == (WIDTH, HEIGHT)
    colours = {row[i:i + 3] for row in rows[::4] for i in range(0, len(row), bpp)}
    assert len(colours) > 20, f"a blank page: {len(colours)} colours"
    # The bars are painted where the SVG puts them: one solid green rectangle per step bar
    # wide enough to survive anti-aliasing, all at the same offset (where the SVG sits on
    # the page) from the bar's SVG coordinates, and as wide as the bar.
    bars = _bars(html.read_text())
    wide = [(float(b.get("x") or 0), float(b.get("y") or 0), float(b.get("width") or 0))
            for b in bars if float(b.get("width") or 0) >= 4.5]
    assert len(wide) >= 5, bars
    painted = [r for r in solid_rects(rows, bpp, SUCCEEDED_RGB) if 8 <= r[3] <= 16]

    def matches(dx: float, dy: float) -> bool:
        return all(any(abs(r[0] - (x + dx)) <= 2.5 and abs(r[1] - (y + dy)) <= 3 and abs(r[2] - w) <= 4
                       for r in painted) for x, y, w in wide)

    x0, y0, _ = wide[0]
    offsets = [(r[0] - x0, r[1] - y0) for r in painted]
    assert any(matches(dx, dy) for dx, dy in offsets), (painted, wide)
    assert len(data["steps"]) == len(bars) == 9


def _bars(html: str) -> list[dict[str, str | None]]:
    dom = _Svg()
    dom.feed(html)
    return dom.bars
