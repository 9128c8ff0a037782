"""Is an inbound email from who its From header says? Our own mail server tells us.

Anyone can write any From address. The provider's receiving mail server (Postfix with
OpenDKIM and OpenDMARC, or rspamd) checks SPF, DKIM and DMARC and writes what it found in
an ``Authentication-Results`` header (RFC 8601) naming itself by its *authserv-id*
(``PORTAL_MAIL_AUTHSERV_ID``). We read only headers with that id: a header anyone else
wrote, including one a forger put in the message, is ignored (our server removes incoming
copies that claim its id, as RFC 8601 section 5 asks).

The sender counts as verified when our server reports one of:

- ``dmarc=pass`` for the From domain;
- ``dkim=pass`` with a signing domain (``header.d``) aligned with the From domain;
- ``spf=pass`` with an envelope sender domain (``smtp.mailfrom``) aligned with it.

Aligned means the same domain, or one a subdomain of the other. (DMARC's relaxed
alignment compares organisational domains, which needs the public suffix list; this
stricter rule can only say "not verified" where DMARC would say aligned, never the
reverse, and DMARC's own verdict is taken first.)

Anything else is *not verified*: the message is kept and shown, marked as such, and is
never added to a conversation because it quotes one of our Message-IDs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import authres
from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderCheck:
    verified: bool
    detail: str  # what staff see: what our server said, or why there is nothing to go on


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def _aligned(domain: str, from_domain: str) -> bool:
    domain = domain.lower().lstrip("@").rstrip(".")
    if "@" in domain:
        domain = _domain_of(domain)
    return bool(domain) and (
        domain == from_domain or domain.endswith("." + from_domain) or from_domain.endswith("." + domain)
    )


def _property(result, name: str) -> str:
    for prop in result.properties:
        if prop.name == name:
            return str(prop.value or "")
    return ""


def check(from_address: str, authentication_results: list[str]) -> SenderCheck:
    """The verdict on ``from_address`` from the message's Authentication-Results headers."""
    authserv_id = (settings.PORTAL_MAIL_AUTHSERV_ID or "").strip().lower()
    if not authserv_id:
        return SenderCheck(False, "Not verified: no receiving mail server is trusted (PORTAL_MAIL_AUTHSERV_ID).")
    from_domain = _domain_of(from_address)
    if not from_domain:
        return SenderCheck(False, "Not verified: the message has no sender address.")
    ours = []
    for value in authentication_results:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(str(value))
        except Exception as exc:  # a malformed header (ours never is): nothing to go on from it
            logger.info("Unreadable Authentication-Results header ignored: %s", exc)
            continue
        if str(header.authserv_id or "").strip().lower() == authserv_id:
            ours.append(header)
    if not ours:
        return SenderCheck(False, f"Not verified: our mail server ({authserv_id}) added no authentication results.")
    # The topmost header of ours is our server's; any further one came from outside with our name.
    # DMARC's own verdict first, then an aligned DKIM signature, then aligned SPF.
    priority = {"dmarc": 0, "dkim": 1, "spf": 2}
    results = sorted(ours[0].results, key=lambda result: priority.get(str(result.method).lower(), 3))
    found = []
    for result in results:
        method, verdict = str(result.method).lower(), str(result.result).lower()
        found.append(f"{method}={verdict}")
        if verdict != "pass":
            continue
        if method == "dmarc" and _aligned(_property(result, "from") or from_domain, from_domain):
            return SenderCheck(True, f"Verified by our mail server: DMARC pass for {from_domain}.")
        if method == "dkim" and _aligned(_property(result, "d") or _property(result, "i"), from_domain):
            return SenderCheck(True, f"Verified by our mail server: DKIM signature of {from_domain} (aligned).")
        if method == "spf" and _aligned(_property(result, "mailfrom"), from_domain):
            return SenderCheck(True, f"Verified by our mail server: SPF pass for {from_domain} (aligned).")
    said = ", ".join(found) or "no results"
    return SenderCheck(False, f"Not verified: our mail server found no aligned pass for {from_domain} ({said}).")
