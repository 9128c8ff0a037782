"""``{% load policy_text %}``: a policy's Markdown as safe HTML (pages) or plain text (email)."""

from __future__ import annotations

from django import template

from privacy import markdown

register = template.Library()


@register.filter
def policy_html(source: str):
    return markdown.to_html(source)


@register.filter
def policy_plain(source: str) -> str:
    return markdown.to_text(source)
