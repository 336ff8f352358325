"""report.html: the whole report as one self-contained page.

The tables, the figures (PNG as data: URIs), report.md's account of the run (what ran, the run specification, the
searches, the statistics explained, the notes) and the list of files. Nothing loads from anywhere: a
Content-Security-Policy allows only inline styles and data: images, and no ``src`` or ``href`` names a scheme
(links to the report's own files are relative), so the page opens offline and cannot call out.
"""

from __future__ import annotations

import base64
import html
import re

import markdown

from mebench.reports.index import MARKERS, index_context, render_body, title
from mebench.reports.tables import dataset_model, html_table, markdown_methods_table, results_model

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 78rem; margin: 2rem auto; padding: 0 1rem; color: #111; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.85rem; }
th, td { border-top: 1px solid #bbb; border-bottom: 1px solid #bbb; padding: 0.2rem 0.5rem; text-align: left; }
th { background: #f2f2f2; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
code { background: #f6f6f6; padding: 0 0.2rem; word-break: break-all; }
"""
# A <details> block of report.md (raw HTML, which this page does not pass through) becomes a bold heading line.
_DETAILS = re.compile(r"^<details><summary>(.*)</summary>$", re.MULTILINE)


def _markdown(text: str) -> str:
    """Markdown (report.md's subset: headings, lists, tables, code, links) as HTML; raw HTML in it, which a method
    name or a path from the results database could carry, is shown as text."""
    text = re.sub(r"^</details>$", "", _DETAILS.sub(r"**\1**", text), flags=re.MULTILINE)
    converter = markdown.Markdown(extensions=["tables"], output_format="html")
    converter.preprocessors.deregister("html_block")
    for name in ("html", "autolink", "automail"):
        converter.inlinePatterns.deregister(name)
    return converter.convert(text)


def _local_only(page: str) -> str:
    """``page`` without any src or href that names a scheme or a host; data: images are the page's own."""
    return re.sub(r"""\s(src|href)\s*=\s*(["'])(.*?)\2""",
                  lambda m: m.group(0) if _is_local(m.group(1), m.group(3)) else "", page)


def _is_local(attribute: str, value: str) -> bool:
    value = html.unescape(value).strip()
    if attribute == "src" and value.startswith("data:image/png;base64,"):
        return True
    return not (re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", value) or value.startswith(("//", "\\")))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower() or "x"


def results_tables(parts, protocol: str) -> str:
    """One protocol's results table and per-dataset table (reports.tables' models, rendered by its html_table)."""
    marks, o = parts.table_marks(), parts.options
    datasets = dataset_model(parts.table_summary, protocol, n_resamples=o["n_resamples"], level=o["level"],
                             incomplete=marks["incomplete"], fmt=parts.fmt, mixed=marks["mixed"],
                             label_prefix=marks["label_prefix"])
    return html_table(results_model(parts.table_summary, protocol, **marks)) + html_table(datasets)


def _tables(parts) -> list[str]:
    lines = ["<section id=\"tables\">", "<h2>Results</h2>", _markdown(MARKERS)]
    for protocol in parts.protocols:
        lines += [f"<section class=\"results-table\" id=\"table-{_slug(protocol)}\">",
                  f"<h3>{html.escape(protocol)}</h3>", results_tables(parts, protocol), "</section>"]
    lines += ["<section class=\"results-table\" id=\"table-methods\">",  # the Markdown brings its heading
              _markdown(markdown_methods_table(parts.shown.frame(parts.costs))), "</section>", "</section>"]
    return lines


def _figures(parts) -> list[str]:
    lines = ["<section id=\"figures\">", "<h2>Figures</h2>"]
    pngs = [name for name in parts.written if name.startswith("fig_") and name.endswith(".png")]
    if not pngs:
        lines.append("<p>No figures (<code>--no-figures</code>).</p>" if not parts.options["figures"]
                     else "<p>No figures.</p>")
    for name in pngs:
        data = base64.b64encode((parts.folder / name).read_bytes()).decode("ascii")
        caption = html.escape(parts.written[name])
        lines += [f"<figure id=\"{html.escape(name[:-4])}\">",
                  f"<img src=\"data:image/png;base64,{data}\" alt=\"{caption}\">",
                  f"<figcaption>{caption} (<a href=\"{html.escape(name[:-4])}.pdf\">PDF</a>)</figcaption>",
                  "</figure>"]
    return lines + ["</section>"]


def _files(parts) -> list[str]:
    items = [f"<li><a href=\"{html.escape(name)}\">{html.escape(name)}</a>: {html.escape(text)}</li>"
             for name, text in parts.written.items() if not name.startswith("fig_")]
    return ["<section id=\"files\">", "<h2>Tables and data</h2>", "<ul>", *items, "</ul>", "</section>"]


def render_html(parts) -> str:
    """The page, from the report's parts (reports.outputs.ReportParts) once its figures are written."""
    ctx = index_context(parts)
    name = html.escape(f"mebench report: {title(ctx)}")
    body = [*_tables(parts), *_figures(parts), "<section id=\"account\">", _markdown(render_body(ctx)), "</section>",
            *_files(parts)]
    page = "\n".join(["<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
                      f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">",
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
                      f"<title>{name}</title>", f"<style>{STYLE}</style>", "</head>", "<body>", f"<h1>{name}</h1>",
                      *body, "</body>", "</html>", ""])
    return _local_only(page)
