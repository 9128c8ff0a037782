"""The portal's wording rules, shared by pages and emails."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def _lower_word(match: re.Match) -> str:
    word = match.group(0)
    # Capitals (TOTP, IP) and inner capitals (WebAuthn) are names: kept as written.
    if (word.isupper() and len(word) > 1) or any(c.isupper() for c in word[1:]):
        return word
    return word.lower()


def sentence_case(text: str) -> str:
    """allauth's title case ("Please Confirm Your Email Address", "Sign-In Code") in the
    portal's sentence case: the first letter stays, the rest of each word is lower case."""
    text = str(text)
    first = _WORD.search(text)
    if first is None:
        return text
    head, tail = text[: first.end()], text[first.end() :]
    return head + _WORD.sub(_lower_word, tail)
