"""Personal-data declarations for the third-party models we use (allauth's).

Our own models carry their declarations on the class; these we cannot decorate.
"""

from __future__ import annotations

from core.registry import Category, Erasure, LawfulBasis, Retention, declare

declare(
    "account.EmailAddress",
    description="The email addresses on your login and whether they are verified.",
    categories=[Category.ACCOUNT, Category.CONTACT],
    fields=["email", "verified", "primary"],
    purpose="Log you in and send you correspondence about your service and billing.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="user__memberships__customer",
    person_path="user",
    retention=Retention(
        counted_from="user__deactivated_at", months=1, description="Removed a month after your login is closed."
    ),
    erasure=Erasure.delete(),
)

declare(
    "mfa.Authenticator",
    description="Your two-factor authentication devices (authenticator apps, passkeys, recovery codes).",
    categories=[Category.ACCOUNT],
    fields=["type", "created_at", "last_used_at"],
    portable_fields=["type", "created_at", "last_used_at"],
    not_personal={"data": "Secrets of the device; exported by type and dates only, never the secret."},
    purpose="Protect your login with a second factor.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="user__memberships__customer",
    person_path="user",
    retention=Retention(counted_from="user__deactivated_at", days=0, description="Removed when your login is closed."),
    erasure=Erasure.delete(),
)
