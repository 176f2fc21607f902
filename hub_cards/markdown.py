"""Markdown building blocks of cards and reports: the one home of pipe tables, of escaping text and of links.

``dataset_builder`` never renders Markdown tables; every other package builds them with :func:`table`. Text from
outside goes through :func:`escape`, links from outside through :func:`link` (:func:`http_url` checks them).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence
from urllib.parse import quote, urlsplit

#: Separator cell per column alignment (GitHub-flavoured Markdown pipe tables).
ALIGNMENTS = {None: "---", "left": ":---", "right": "---:", "center": ":---:"}
MAX_URL_LENGTH = 2000
#: URL characters a link target keeps; every other one is percent-encoded, so no ``(``, ``)``, ``[``, ``]``, ``<``,
#: ``>``, ``|``, ``!``, ``*``, quote, backslash or space can end the target, the table cell or an HTML attribute.
URL_SAFE = "/:?#&=+$,;@%-._~"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_INLINE_SIGNIFICANT = re.compile(r"([\\`*_\[\]<>!&~])")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def escape(text: Any) -> str:
    """``text`` shown literally in Markdown: a backslash before every character that could start formatting, a
    link, an image, HTML or an entity, ``|`` as ``&#124;`` (no table parser splits a cell there), and line breaks
    and other control characters as one space.

    For free text from outside (e.g. a submitted method name); cells that carry intended Markdown
    (code spans, links) go to :func:`table` as they are.
    """
    text = _INLINE_SIGNIFICANT.sub(r"\\\1", _CONTROL.sub(" ", str(text)))
    return text.replace("|", "&#124;")


def http_url(text: Any) -> str | None:
    """``text`` as a link target when it is an absolute ``http``/``https`` URL with a host name (no credentials,
    spaces or control characters, at most ``MAX_URL_LENGTH`` characters), percent-encoded beyond ``URL_SAFE``;
    None for anything else (``javascript:``, ``data:``, relative links, ...)."""
    if not isinstance(text, str) or len(text) > MAX_URL_LENGTH or _CONTROL.search(text) or re.search(r"\s", text):
        return None
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0  # .port raises ValueError for one that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc or not port_ok:
        return None
    if not parts.hostname or not _HOST.match(parts.hostname):
        return None
    return quote(text, safe=URL_SAFE)


def link(text: Any, url: Any) -> str:
    """A Markdown link showing ``text`` (escaped) to ``url`` (see :func:`http_url`); the escaped text alone when
    ``url`` is missing or not a safe http(s) URL."""
    target = http_url(url)
    return f"[{escape(text)}]({target})" if target else escape(text)


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
