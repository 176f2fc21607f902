"""Markdown building blocks of cards and reports: the one home of pipe tables and of escaping text.

``dataset_builder`` never renders Markdown tables; every other package builds them with :func:`table`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

#: Separator cell per column alignment (GitHub-flavoured Markdown pipe tables).
ALIGNMENTS = {None: "---", "left": ":---", "right": "---:", "center": ":---:"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_INLINE_SIGNIFICANT = re.compile(r"([\\`*_\[\]<>|])")


def escape(text: Any) -> str:
    """``text`` shown literally in Markdown: a backslash before every character that could start
    formatting, a link, HTML or a table cell border; line breaks become spaces.

    For free text from outside (e.g. a submitted method name); cells that carry intended Markdown
    (code spans, links) go to :func:`table` as they are.
    """
    return _INLINE_SIGNIFICANT.sub(r"\\\1", _LINE_BREAK.sub(" ", str(text)))


def _cell(value: Any) -> str:
    """One table cell: ``str(value)`` with ``|`` escaped and line breaks as ``<br>``, so the row stays one row."""
    return _LINE_BREAK.sub("<br>", str(value)).replace("|", r"\|")


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], align: Sequence[str | None] | None = None) -> str:
    """A pipe table: a header row, the separator row and one row per entry of ``rows`` (no trailing newline).

    Args:
        header: column titles.
        rows: cells, any values (written with ``str``); every row has one cell per column.
        align: per column ``"left"``, ``"right"``, ``"center"`` or None (the renderer's default).

    Raises:
        ValueError: for a row or ``align`` of another length than ``header``, or an unknown alignment.
    """
    width = len(header)
    align = [None] * width if align is None else list(align)
    if len(align) != width:
        raise ValueError(f"align has {len(align)} entries for {width} columns")
    unknown = [a for a in align if a not in ALIGNMENTS]
    if unknown:
        raise ValueError(f"unknown alignment(s) {unknown}; use one of {[a for a in ALIGNMENTS if a]} or None")
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "".join(f"{ALIGNMENTS[a]}|" for a in align)]
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"table row {i} has {len(row)} cells for {width} columns")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)
