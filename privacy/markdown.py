"""Policy texts are written in Markdown: shown as safe HTML on the portal, as plain text in email.

Parsing is markdown-it-py's CommonMark with raw HTML turned off, so ``<script>`` or any
other tag in the source is shown as the text it is, never as markup; its link check
already refuses ``javascript:``, ``vbscript:`` and ``data:`` targets. Its output then
goes through nh3, the allow-list sanitiser the inbound mail archive uses, as a second
line: only ordinary text markup survives, with no attributes but a link's address (the
tables' inline alignment styles go too, which the Content-Security-Policy would refuse).

Images are not part of a policy (they would load from elsewhere): ``![..](..)`` shows as
a link. Headings move one level down, so the page's own title stays the only ``<h1>``.
"""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_PARSER.enable(["table", "strikethrough"]).disable(["image"])

_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}


def _tokens(source: str) -> list[Token]:
    tokens = _PARSER.parse(source or "")
    for token in tokens:
        if token.type in {"heading_open", "heading_close"}:
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    return tokens


def to_html(source: str) -> SafeString:
    """``source`` (Markdown) as HTML that is safe to put in a page."""
    rendered = _PARSER.renderer.render(_tokens(source), _PARSER.options, {})
    cleaned = nh3.clean(rendered, tags=_TAGS, attributes=_ATTRIBUTES, link_rel="noopener noreferrer")
    return mark_safe(cleaned)  # parsed without raw HTML, then cleaned by an allow-list


def _inline_text(token: Token) -> str:
    """An inline token's text as a reader would say it: markers dropped, links with their address."""
    out: list[str] = []
    link_start, href = 0, ""
    for child in token.children or []:
        if child.type in {"text", "code_inline", "html_inline"}:
            out.append(child.content)
        elif child.type in {"softbreak", "hardbreak"}:
            out.append("\n")
        elif child.type == "link_open":
            link_start, href = len(out), str(child.attrs.get("href", ""))
        elif child.type == "link_close":
            text = "".join(out[link_start:])
            if href and href not in {text, f"mailto:{text}"}:
                out.append(f" ({href})")
    return "".join(out)


def to_text(source: str) -> str:
    """``source`` (Markdown) as readable plain text, for the text part of an email."""
    blocks: list[tuple[str, bool]] = []  # (text, whether it sits tight against the one before)
    open_tokens: list[Token] = []
    lists: list[int | None] = []  # per open list: the next number, or None for bullets
    marker = ""
    row: list[str] | None = None
    first_row = False
    after_item = False

    def emit(text: str, *, tight: bool = False) -> None:
        nonlocal marker, after_item
        # A tight list's items follow each other line by line; the list stands apart from what precedes it.
        tight, after_item = tight and (after_item or not marker), bool(lists)
        indent = "  " * len(lists)
        if lists:
            first = ("  " * (len(lists) - 1) + marker) if marker else indent
            text = first + text.replace("\n", "\n" + indent)
            marker = ""
        quotes = sum(1 for token in open_tokens if token.type == "blockquote_open")
        if quotes:
            text = "\n".join("> " * quotes + line for line in text.split("\n"))
        blocks.append((text, tight))

    for token in _tokens(source):
        if token.nesting == 1:
            open_tokens.append(token)
        elif token.nesting == -1 and open_tokens:
            open_tokens.pop()
        kind = token.type
        if kind == "bullet_list_open":
            lists.append(None)
        elif kind == "ordered_list_open":
            lists.append(int(token.attrGet("start") or 1))
        elif kind in {"bullet_list_close", "ordered_list_close"}:
            lists.pop()
        elif kind == "list_item_open":
            number = lists[-1]
            marker = "- " if number is None else f"{number}. "
            if number is not None:
                lists[-1] = number + 1
        elif kind == "tr_open":
            row = []
        elif kind == "table_open":
            first_row = True
        elif kind == "tr_close" and row is not None:
            emit(" | ".join(row), tight=not first_row)
            row, first_row = None, False
        elif kind in {"fence", "code_block"}:
            emit("\n".join("    " + line for line in token.content.rstrip("\n").split("\n")))
        elif kind == "hr":
            emit("----")
        elif kind == "inline":
            text = _inline_text(token)
            parent = open_tokens[-1] if open_tokens else None
            if row is not None:
                row.append(text)
            elif parent is not None and parent.type == "heading_open":
                emit(f"{text}\n{('=' if parent.tag == 'h2' else '-') * len(text)}")
            else:
                emit(text, tight=bool(lists) and parent is not None and parent.hidden)
    out = ""
    for index, (text, tight) in enumerate(blocks):
        if index:
            out += "\n" if tight else "\n\n"
        out += text
    return out.strip()
