"""The staff groups the migrations make are the ones accounts.groups describes.

Each migration writes out the permissions it grants (so it does the same whatever the
code says later); accounts.groups is their sum, which the tests use to put the groups
back after a flush. This keeps the two from drifting apart.
"""

from __future__ import annotations

from accounts import roles
from accounts.groups import GROUP_PERMISSIONS, permission_codenames


def test_the_migrations_give_each_group_what_accounts_groups_describes(freshly_migrated):
    described = {
        name: sorted(f"{app_label}.{codename}" for app_label, codename in permission_codenames(name))
        for name in GROUP_PERMISSIONS
    }
    assert freshly_migrated["groups"] == described


def test_every_staff_role_has_its_group():
    groups = {roles.SUPPORT_GROUP, roles.BILLING_GROUP, roles.ABUSE_GROUP, roles.PRIVACY_GROUP, roles.ACCOUNTANT_GROUP}
    assert set(GROUP_PERMISSIONS) == groups
