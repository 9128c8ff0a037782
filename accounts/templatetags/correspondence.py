from __future__ import annotations

from django import template

from accounts.correspondence.display import inert_links

register = template.Library()
register.filter("inert_links", inert_links)
