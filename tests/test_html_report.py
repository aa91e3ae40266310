"""report.html: written at the end of every run, self-contained, one card per row; rendered in a
real headless Chromium to prove every card and picture loads and the failed-rows filter works."""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from attgan_batch.html_report import write_html_report
from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest
from attgan_batch.thumbnails import THUMB_SIDE, thumb_path
from conftest import SOURCE_13, write_checkpoint, write_image

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--virtual-time-budget=5000"]

# Injected into a copy of the page: once every picture has settled, record what loaded and what
# the "only failed" filter leaves visible, as attributes that --dump-dom shows.
PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var cards = document.querySelectorAll('article.card');
  var box = document.getElementById('only-failed');
  box.click();
  var visible = Array.prototype.filter.call(cards, function (c) { return c.offsetParent !== null; }).length;
  box.click();
  var b = document.body;
  b.setAttribute('data-images', imgs.length); b.setAttribute('data-images-ok', ok);
  b.setAttribute('data-cards', cards.length); b.setAttribute('data-visible-when-filtered', visible);
  b.setAttribute('data-probe', 'done');
});
</script>"""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A run with ok rows (one a flip-each grid), a missing and a corrupt input, a bad edit."""
    root = tmp_path_factory.mktemp("html")
    checkpoint = write_checkpoint(root / "ck", img_size=32)
    data = root / "photos"  # outside --out, as users' inputs are
    for i in range(3):
        write_image(data / f"p{i}.png", size=(64, 80), seed=i)
    (data / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    rows = ["id,image,source,edit",
            f'blond,photos/p0.png,"{SOURCE_13}",Blond_Hair=1',
            f'glasses <b>&amp;,photos/p1.png,"{SOURCE_13}",Eyeglasses=flip',
            f'flips,photos/p2.png,"{SOURCE_13}",flip-each',
            f'bald,photos/p1.png,"{SOURCE_13}",Bald=1',
            f'gone,photos/missing.png,"{SOURCE_13}",Male=1',
            f'broken,photos/broken.jpg,"{SOURCE_13}",Male=1',
            f'typo,photos/p0.png,"{SOURCE_13}",Beard=1']  # fails before decoding: thumbnail at report time
    (root / "m.csv").write_text("\n".join(rows) + "\n")
    run_manifest(root / "m.csv", RunOptions(out_dir=root / "out", checkpoint=checkpoint,
                                            engine=EngineOptions(backend="torch", device="cpu", batch_size=2)))
    return root / "out"


def test_report_html_has_a_card_per_row_and_needs_no_network(finished_run):
    page = (finished_run / "report.html").read_text(encoding="utf-8")
    cards = re.findall(r"<article class='card (\w+)'", page)
    assert sorted(cards) == ["failed", "failed", "failed", "ok", "ok", "ok", "ok"]
    assert "glasses &lt;b&gt;&amp;amp;" in page  # ids are escaped, never markup
    assert "default-src 'none'" in page  # the CSP forbids any fetch
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    # ok rows: input + output; the bad edit: its input; missing and corrupt inputs: none
    assert page.count("src='data:image/jpeg;base64,") == 4 * 2 + 1
    assert "image not found" in page and "corrupt or truncated" in page and "Beard" in page
    assert "show only failed rows (3)" in page
    for row_id in ("blond", "flips"):  # thumbnails come from the writer thread, capped at THUMB_SIDE
        from PIL import Image
        thumb = Image.open(thumb_path(finished_run, row_id, "in"))
        assert max(thumb.size) <= THUMB_SIDE
    assert not list(finished_run.glob(".*.tmp"))


def test_thumbnails_capped_to_first_rows_and_page_streams(tmp_path):
    records = ({"line": i + 2, "id": f"r{i}", "input": "", "output": f"r{i}.png", "status": "ok"}
               for i in range(5000))  # a generator: the writer must not need a list
    summary = {"manifest": "big.csv", "counts": {"rows": 5000, "ok": 5000, "failed": 0}}
    path = write_html_report(tmp_path, summary, records, max_thumb_rows=3)
    page = path.read_text(encoding="utf-8")
    assert page.count("<article") == 5000
    assert page.count("class='pics'") == 3
    assert "thumbnails are shown for the first 3 rows only" in page
    assert path.stat().st_size < 5000 * 700


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (CI: apt-get install -y chromium)")


def _render(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(profile)})


def test_report_renders_in_chromium_with_every_image_loaded(finished_run, tmp_path):
    browser = _chromium()
    source = finished_run / "report.html"
    probe = finished_run / "report.probe.html"  # beside the original, so relative links resolve alike
    probe.write_text(source.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = _render(browser, probe, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body, result.stdout[:2000]
    attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', html.unescape(body.group(1))))
    assert attrs.get("probe") == "done", attrs
    assert attrs["cards"] == "7"
    assert attrs["images"] == "9" and attrs["images-ok"] == "9", attrs  # every <img> decoded
    assert attrs["visible-when-filtered"] == "3"  # the checkbox leaves only the failed rows

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-html.png"
    shot.unlink(missing_ok=True)
    result = _render(browser, source, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1280,1000")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    assert shot.stat().st_size > 10_000


def test_report_html_shows_each_rows_grid(tmp_path):
    from attgan_batch.pipeline import OutputOptions

    checkpoint = write_checkpoint(tmp_path / "ck", img_size=32)
    write_image(tmp_path / "p.png", size=(40, 40))
    (tmp_path / "m.csv").write_text(f'id,image,source,edit\nr,p.png,"{SOURCE_13}",Male=1\n')
    out = tmp_path / "out"
    run_manifest(tmp_path / "m.csv", RunOptions(out_dir=out, checkpoint=checkpoint, output=OutputOptions(grid=True),
                                                engine=EngineOptions(backend="torch", device="cpu")))
    page = (out / "report.html").read_text()
    assert "<figcaption>grid</figcaption>" in page and page.count("data:image/jpeg;base64,") == 3
