"""``report.html``: the run's report as a page a person can scan, beside report.csv.

One card per row (input and output thumbnails, the edit, conflict changes, status, error, notes),
a summary header and a "failed rows only" filter. The page is self-contained and never touches
the network: thumbnails are embedded as small base64 JPEGs (inputs live outside ``--out``, so
linking to them would break when the folder is copied), the full output is a relative link, and a
Content-Security-Policy forbids any fetch. It is written from the journal record by record into a
temp file that is renamed into place, so memory stays flat and a reader never sees half a page.
Only the first MAX_THUMB_ROWS cards carry thumbnails, which bounds the page to a few MB.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from PIL import Image

from .atomic import atomic_open
from .thumbnails import input_thumbnail, thumb_path

MAX_THUMB_ROWS = 2000
HTML_NAME = "report.html"

_CSS = """
body{font:14px/1.35 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header.summary{background:#fff;border-bottom:1px solid #d8dce3;padding:12px 20px;position:sticky;top:0;z-index:1}
h1{font-size:18px;margin:0 0 6px}
.facts{display:flex;flex-wrap:wrap;gap:4px 18px;margin:0;font-size:13px}
.facts dt{font-weight:600;display:inline}.facts dd{display:inline;margin:0 0 0 4px}
.warn{color:#8a5300;margin:6px 0 0;padding-left:18px}
.controls{margin-top:8px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px;padding:16px 20px}
.card{background:#fff;border:1px solid #d8dce3;border-left:5px solid #2e9d5b;border-radius:6px;padding:8px 10px;overflow-wrap:anywhere}
.card.failed{border-left-color:#c8322c}.card.skipped{border-left-color:#999}
.card h2{font-size:14px;margin:0 0 6px}
.badge{display:inline-block;font-size:11px;padding:1px 6px;border-radius:9px;background:#2e9d5b;color:#fff;margin-right:6px}
.failed .badge{background:#c8322c}.skipped .badge{background:#999}
.pics{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
figure{margin:0;text-align:center;font-size:11px;color:#5b6372}
figure img{display:block;height:96px;width:auto;border:1px solid #e3e6eb;background:#eee}
figure img.wide{height:auto;max-width:100%}
figure:has(img.wide){flex-basis:100%}
.noimg{width:96px;height:96px;display:flex;align-items:center;justify-content:center;background:#eee;color:#888;font-size:11px}
.card dl{margin:6px 0 0;font-size:12px;display:grid;grid-template-columns:auto 1fr;gap:1px 8px}
.card dt{color:#5b6372}.card dd{margin:0}
.error{color:#c8322c;font-weight:600}
body.only-failed .card:not(.failed){display:none}
"""

_JS = """
(function(){
  var box=document.getElementById('only-failed');
  function apply(){document.body.classList.toggle('only-failed',box.checked);}
  box.addEventListener('change',apply);
  if(location.hash==='#failed'){box.checked=true;}
  apply();
})();
"""


def write_html_report(report_dir: Path, summary: dict[str, Any], records: Iterable[dict[str, Any]],
                      out_dir: Path | None = None, max_thumb_rows: int = MAX_THUMB_ROWS) -> Path:
    """Write ``report_dir/report.html`` from ``records`` (streamed) and the run ``summary``.

    ``out_dir`` is where the outputs and thumbnails are (default: ``report_dir``)."""
    out_dir = Path(out_dir or report_dir)
    base = Path(str(summary.get("manifest") or ".")).parent  # rows rejected early keep the raw relative path
    path = Path(report_dir) / HTML_NAME
    with atomic_open(path) as fh:
        fh.write(_head(summary, max_thumb_rows))
        for n, record in enumerate(records):
            fh.write(_card(n, record, out_dir, base, with_thumbs=n < max_thumb_rows))
        fh.write(f"</main><script>{_JS}</script></body></html>\n")
    return path


def _head(summary: dict[str, Any], max_thumb_rows: int) -> str:
    e = html.escape
    counts = summary.get("counts", {})
    throughput = summary.get("throughput", {})
    backend = summary.get("backend") or {}
    checkpoint = summary.get("checkpoint") or {}
    facts = [
        ("rows", counts.get("rows", 0)), ("ok", counts.get("ok", 0)), ("failed", counts.get("failed", 0)),
        ("skipped", counts.get("skipped", 0)), ("resumed", counts.get("resumed", 0)),
        ("time", f"{summary.get('seconds', 0)} s"),
        ("throughput", f"{throughput.get('rows_per_second', 0)} rows/s, "
                       f"{throughput.get('images_per_second', 0)} images/s"
         if counts.get("ok", 0) > counts.get("resumed", 0) or counts.get("failed", 0)
         else "- (every row was kept from an earlier run)"),
        ("backend", ", ".join(f"{k}={v}" for k, v in backend.items()) or "-"),
        ("checkpoint", f"{checkpoint.get('path', '-')} (sha256 {str(checkpoint.get('sha256', ''))[:12]})"),
    ]
    classifier = checkpoint.get("classifier")
    if isinstance(classifier, dict):
        facts.append(("classifier", classifier.get("path", "")))
    state = summary.get("aborted") or ("interrupted" if summary.get("interrupted") else "")
    if state:
        facts.append(("stopped", state))
    warnings = summary.get("warnings") or []
    if counts.get("rows", 0) > max_thumb_rows:
        warnings = [*warnings, f"thumbnails are shown for the first {max_thumb_rows} rows only"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>attgan-batch report: {e(str(summary.get('manifest', '')))}</title><style>{_CSS}</style></head>",
        "<body><header class='summary'>",
        f"<h1>attgan-batch report &middot; {e(str(summary.get('manifest', '')))}</h1><dl class='facts'>",
        *(f"<div><dt>{e(k)}</dt><dd>{e(str(v))}</dd></div>" for k, v in facts),
        "</dl>",
    ]
    if warnings:
        parts.append("<ul class='warn'>" + "".join(f"<li>{e(str(w))}</li>" for w in warnings) + "</ul>")
    parts += [
        "<div class='controls'><label><input type='checkbox' id='only-failed'> show only failed rows "
        f"({counts.get('failed', 0)})</label></div></header><main>",
    ]
    return "".join(parts)


def _img(data: bytes | None, alt: str) -> str:
    if not data:
        return f"<div class='noimg'>no {html.escape(alt)}</div>"
    try:  # the header only: size attributes keep the layout still while the page loads
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except Exception:  # noqa: BLE001 - not a picture after all
        return f"<div class='noimg'>no {html.escape(alt)}</div>"
    wide = " class='wide'" if width > 2 * height else ""  # a flip-each grid: full card width
    return (f"<img{wide} alt='{html.escape(alt)}' width='{width}' height='{height}' "
            f"src='data:image/jpeg;base64,{base64.b64encode(data).decode('ascii')}'>")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _card(n: int, record: dict[str, Any], out_dir: Path, base: Path, with_thumbs: bool) -> str:
    e = html.escape
    status = str(record.get("status", ""))
    row_id = str(record.get("id", ""))
    output = str(record.get("output", "") or "")
    pics = ""
    if with_thumbs:
        thumb_in = _read(thumb_path(out_dir, row_id, "in"))
        if thumb_in is None and record.get("input"):
            thumb_in = input_thumbnail(str(base / str(record["input"])))  # an absolute input stays as is
        thumb_out = _read(thumb_path(out_dir, row_id, "out")) if status == "ok" else None
        out_fig = _img(thumb_out, "output")
        if thumb_out and output:
            out_fig = f"<a href='{e(quote(Path(output).as_posix()))}'>{out_fig}</a>"
        figures = [f"<figure>{_img(thumb_in, 'input')}<figcaption>input</figcaption></figure>",
                   f"<figure>{out_fig}<figcaption>output</figcaption></figure>"]
        if status == "ok":
            for kind, caption in (("face-in", "face before"), ("face-out", "face after"), ("grid", "grid")):
                data = _read(thumb_path(out_dir, row_id, kind))
                if data is not None:
                    figures.append(f"<figure>{_img(data, caption)}<figcaption>{caption}</figcaption></figure>")
        pics = f"<div class='pics'>{''.join(figures)}</div>"
    rows = [("input", record.get("input")), ("output", output if status == "ok" else ""),
            ("edit", record.get("edit")), ("edited", record.get("edited")), ("style", record.get("style")),
            ("conflicts", record.get("conflicts")), ("source predicted", record.get("source_predicted")),
            ("note", record.get("note")), ("seconds", record.get("seconds"))]
    details = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in rows if v not in (None, ""))
    error = record.get("error")
    if error:
        details += f"<dt>error</dt><dd class='error'>{e(str(error))}</dd>"
    line = record.get("line")
    order = f" style='order:{int(line)}'" if str(line).isdigit() else ""  # manifest order, not finish order
    return (f"<article class='card {e(status)}' id='row-{n}' data-status='{e(status)}' data-id='{e(row_id)}'{order}>"
            f"<h2><span class='badge'>{e(status)}</span>{e(row_id)} "
            f"<small>line {e(str(record.get('line', '')))}</small></h2>{pics}<dl>{details}</dl></article>\n")
