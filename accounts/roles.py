"""What each contact role may see and do: the one table (docs/roles.md mirrors it).

A test checks that docs/roles.md shows exactly this table, so the two cannot drift.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    BILLING = "billing", "Billing contact"
    TECHNICAL = "technical", "Technical contact"


class Action(models.TextChoices):
    VIEW_DASHBOARD = "view_dashboard", "See the dashboard and account status"
    VIEW_SERVICES = "view_services", "See services and their IP addresses"
    VIEW_BILLING = "view_billing", "See invoices, payments and statements"
    VIEW_CONTACTS = "view_contacts", "See the list of contacts"
    EDIT_DETAILS = "edit_details", "Edit the customer's details and postal address"
    MANAGE_CONTACTS = "manage_contacts", "Invite contacts, change their roles, remove them"
    RECEIVE_BILLING_MAIL = "receive_billing_mail", "Receive billing emails"
    RECEIVE_TECHNICAL_MAIL = "receive_technical_mail", "Receive service, security and abuse emails"
    USE_PRIVACY_CENTRE = "use_privacy_centre", "Use the privacy centre for the customer"
    MANAGE_STORAGE_ACCESS = (
        "manage_storage_access",
        "See, request, approve, decline and revoke access to the servers' storage",
    )
    ANSWER_ABUSE_REPORTS = "answer_abuse_reports", "See and answer abuse reports about the services"


PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW_DASHBOARD: frozenset({Role.OWNER, Role.BILLING, Role.TECHNICAL}),
    Action.VIEW_SERVICES: frozenset({Role.OWNER, Role.BILLING, Role.TECHNICAL}),
    Action.VIEW_BILLING: frozenset({Role.OWNER, Role.BILLING}),
    Action.VIEW_CONTACTS: frozenset({Role.OWNER, Role.BILLING, Role.TECHNICAL}),
    Action.EDIT_DETAILS: frozenset({Role.OWNER}),
    Action.MANAGE_CONTACTS: frozenset({Role.OWNER}),
    Action.RECEIVE_BILLING_MAIL: frozenset({Role.OWNER, Role.BILLING}),
    Action.RECEIVE_TECHNICAL_MAIL: frozenset({Role.OWNER, Role.TECHNICAL}),
    Action.USE_PRIVACY_CENTRE: frozenset({Role.OWNER}),
    Action.MANAGE_STORAGE_ACCESS: frozenset({Role.OWNER, Role.TECHNICAL}),
    Action.ANSWER_ABUSE_REPORTS: frozenset({Role.OWNER, Role.TECHNICAL}),
}

# Staff work in the admin in these groups (created by a data migration, accounts.groups).
SUPPORT_GROUP = "Support"
BILLING_GROUP = "Billing"
ABUSE_GROUP = "Abuse desk"
PRIVACY_GROUP = "Privacy officer"
ACCOUNTANT_GROUP = "Accountant"


def who_may(action: str) -> str:
    """The roles allowed ``action``, as a sentence says them: "an owner", "owners and billing contacts"."""
    allowed = [role for role in Role if role in PERMISSIONS[Action(action)]]
    if len(allowed) == 1:
        label = allowed[0].label.lower()
        return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"
    names = [f"{role.label.lower()}s" for role in allowed]
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def allows(role: str, action: str) -> bool:
    return Role(role) in PERMISSIONS[Action(action)]


def markdown_table() -> str:
    """The table as it appears in docs/roles.md."""
    header = "| What | " + " | ".join(r.label for r in Role) + " |"
    rule = "|---|" + "---|" * len(Role)
    rows = [
        f"| {action.label} | " + " | ".join("yes" if role in PERMISSIONS[action] else "—" for role in Role) + " |"
        for action in Action
    ]
    return "\n".join([header, rule, *rows])
