"""A readable report of a run: Markdown beside an HTML file with every figure embedded.

A report is a list of sections, each with paragraphs, tables and figures; it renders to both
formats from that one structure, so they never disagree. Titles, the intro and paragraphs are the author's Markdown;
table cells and captions are data, shown literally (escaped in Markdown and in HTML), and figure paths are
percent-encoded.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from dataset_builder.atomic import atomic_write_text
from hub_cards.markdown import escape, table


@dataclass
class Table:
    """A table: a header row and rows of cells (already formatted as text)."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""


@dataclass
class Figure:
    """A PNG file and its caption."""

    path: Path
    caption: str


@dataclass
class Section:
    """A titled part of the report: paragraphs, then tables, then figures."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Report:
    """The whole report."""

    title: str
    intro: str
    sections: list[Section] = field(default_factory=list)

    def to_markdown(self, base: Path) -> str:
        """Markdown, with figures linked relative to ``base`` (the folder the file goes to)."""
        out = [f"# {self.title}", "", self.intro, ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            for p in s.paragraphs:
                out += [p, ""]
            for t in s.tables:
                if t.caption:
                    out += [f"*{escape(t.caption)}*", ""]
                out += [table([escape(h) for h in t.header], [[escape(c) for c in row] for row in t.rows]), ""]
            for f in s.figures:
                if f.path.is_file():
                    target = quote(Path(os.path.relpath(f.path, base)).as_posix())
                    caption = escape(f.caption)
                    out += [f"![{caption}]({target})", "", f"*{caption}*", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        """A self-contained HTML page: figures embedded as base64 PNG."""
        esc = html.escape
        body = [f"<h1>{esc(self.title)}</h1>", f"<p>{esc(self.intro)}</p>"]
        for s in self.sections:
            body.append(f"<h2>{esc(s.title)}</h2>")
            body += [f"<p>{esc(p)}</p>" for p in s.paragraphs]
            for t in s.tables:
                rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in t.rows)
                head = "".join(f"<th>{esc(h)}</th>" for h in t.header)
                caption = f"<caption>{esc(t.caption)}</caption>" if t.caption else ""
                body.append(f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            for f in s.figures:
                if f.path.is_file():
                    data = base64.b64encode(f.path.read_bytes()).decode("ascii")
                    body.append(
                        f'<figure><img src="data:image/png;base64,{data}" alt="{esc(f.caption)}">'
                        f"<figcaption>{esc(f.caption)}</figcaption></figure>"
                    )
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
            "th{background:#eef}caption{caption-side:top;font-style:italic;text-align:left}"
            "img{max-width:100%;border:1px solid #ddd}figcaption{font-style:italic;color:#555}"
        )
        return (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(self.title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
        )

    def write(self, folder: str | Path, name: str = "report") -> tuple[Path, Path]:
        """Write ``{name}.md`` and ``{name}.html`` into ``folder`` (atomically)."""
        folder = Path(folder)
        md, page = folder / f"{name}.md", folder / f"{name}.html"
        atomic_write_text(md, self.to_markdown(folder))
        atomic_write_text(page, self.to_html())
        return md, page
