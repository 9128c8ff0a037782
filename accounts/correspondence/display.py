"""Showing email someone sent us, in the portal and the admin, without live links.

Inbound HTML is sanitised when it is stored (no scripts, no remote images). Its links
are still a phishing tool: "your invoice" pointing somewhere else entirely. So links are
shown inert: the link's text, followed by where it really goes, in plain text that cannot
be clicked, with a warning when the text itself looks like an address and names a
different site than the target.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# The sanitiser writes every link as <a href="..." ...>...</a>, attributes quoted.
_LINK = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_LOOKS_LIKE_ADDRESS = re.compile(r"^(https?://)?([a-z0-9-]+\.)+[a-z]{2,}(/\S*)?$", re.IGNORECASE)


def _host(address: str) -> str:
    if "://" not in address:
        address = "http://" + address
    return (urlsplit(address).hostname or "").lower().removeprefix("www.")


def _inert(match: re.Match) -> str:
    target = html.unescape(match.group(1))
    inner = match.group(2)
    text = html.unescape(_TAG.sub("", inner)).strip()
    warning = ""
    if _LOOKS_LIKE_ADDRESS.match(text) and _host(text) != _host(target):
        warning = format_html(
            ' <strong class="link-warning">(the text says {}, the link goes elsewhere)</strong>', text
        )
    return format_html(
        '<span class="inert-link">{} <span class="link-target">[{}]</span>{}</span>', mark_safe(inner), target, warning
    )


def inert_links(sanitised_html: str) -> SafeString:
    """``sanitised_html`` (already cleaned when stored) with every link made inert."""
    return mark_safe(_LINK.sub(_inert, sanitised_html))  # sanitised on storage; links rewritten here
