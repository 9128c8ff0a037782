"""Staff groups and their permissions: what the data migrations add up to.

Each migration that gives a group permissions writes them out itself (every migration
with a ``GRANTS`` table), so that it does the same whatever this module says later. This
is the sum of them, in one place to read, and what ``sync_groups`` restores after a test
empties the database. A change here needs a new migration that grants (or takes away) the
same: tests/accounts/test_groups.py compares this definition with a freshly migrated
database.
"""

from __future__ import annotations

from accounts import roles

# group name → {app_label: {model_name: actions}}
GROUP_PERMISSIONS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    roles.SUPPORT_GROUP: {
        "accounts": {
            "auditevent": ("view",),
            "servicestatuschange": ("view", "add"),
            "customer": ("view", "change"),
            "membership": ("view", "add", "change"),
            "invitation": ("view", "add"),
            "service": ("view", "add", "change"),
            "ipassignment": ("view", "add", "change"),
            "user": ("view",),
            # change = assign quarantined mail, reply, retry delivery (accounts.correspondence.admin)
            "message": ("view", "change"),
        },
        # Support takes privacy requests by letter or phone and passes them to the privacy officer;
        # it asks customers for storage access, opens necessary access (a second member of
        # support approves it) and records access sessions.
        "privacy": {
            "datasubjectrequest": ("view", "add"),
            "storagegrant": ("view", "request", "necessary"),
            "storageaccesssession": ("view", "add"),
            "storageaccesscheck": ("view",),
            "storageaccesstool": ("view",),
        },
    },
    roles.BILLING_GROUP: {
        "accounts": {
            "auditevent": ("view",),
            "servicestatuschange": ("view",),
            "customer": ("view", "change"),
            "membership": ("view",),
            "service": ("view",),
            "user": ("view",),
            "message": ("view", "change"),
        },
        # Issued documents, payments and refunds are never changed or deleted: the admin and
        # the models refuse it whatever the permission; "change" on invoices is for drafts
        # and the admin actions (issue, credit, email).
        "billing": {
            "product": ("view", "add", "change"),
            "plan": ("view", "add", "change"),
            "subscription": ("view", "add", "change"),
            "oneoffcharge": ("view", "add", "change", "delete"),
            "invoice": ("view", "add", "change", "delete"),
            "invoiceline": ("view", "add", "change", "delete"),
            "payment": ("view", "add"),
            "paymentallocation": ("view",),
            "refund": ("view", "add"),
            "billingrun": ("view", "add"),
            "numberseries": ("view", "add", "change"),
            "exchangerate": ("view", "add", "change"),
            "vatrate": ("view", "add", "change", "delete"),
            "billingsettings": ("view", "add", "change"),
            # The accountants: their firms and logins, the codes their books use, the exports.
            "accountingfirm": ("view", "add", "change"),
            "accountant": ("view", "add", "change", "delete"),
            "accountingsettings": ("view", "add", "change"),
            "accountingtaxcode": ("view", "change"),
            "customeraccountreference": ("view", "add", "change"),
            "accountingexport": ("view", "produce"),
            # A plan's usage terms are edited with the plan; collector tokens are issued
            # and revoked, never edited or deleted.
            "usageterms": ("view", "add", "change", "delete"),
            "collectortoken": ("view", "add", "revoke"),
            # Collections (billing.collections): the schedule, rates, agencies and settings they
            # keep; pauses, disputes, letters, handoffs, waivers, write-offs and suspensions they
            # work through the admin's actions; what the runs record they only read.
            "dunningstep": ("view", "add", "change"),
            "referencerate": ("view", "add", "change"),
            "referenceratecheck": ("view", "add"),  # add = confirm the table up to a day
            "collectionagency": ("view", "add", "change"),
            "collectionssettings": ("view", "add", "change"),
            "collectionspause": ("view", "add", "change"),
            "dispute": ("view", "add", "change"),
            "letter": ("view", "add", "change"),
            "letterreply": ("view", "add", "change"),
            "handoff": ("view", "add", "change"),
            "latepaymentwaiver": ("view", "add", "change"),
            "writeoff": ("view", "add", "change"),
            "suspensionnotice": ("view", "add", "change"),
            "remindersent": ("view",),
            "latepaymentcharge": ("view", "add"),  # add = charge a customer (issues a claim)
            "disputeattachment": ("view",),
            "handoffevent": ("view", "add"),
        },
    },
    roles.ABUSE_GROUP: {
        "accounts": {
            "auditevent": ("view",),
            "servicestatuschange": ("view", "add"),
            "customer": ("view",),
            "service": ("view", "change"),
            "ipassignment": ("view",),
            "message": ("view", "change"),
        },
        # The abuse desk works reports and cases (privacy.abuse.admin); containment is its own permission.
        "privacy": {
            "abusereport": ("view", "add", "change"),
            "abuseevidence": ("view", "change"),
            "abusecase": ("view", "change", "contain"),
            "caseentry": ("view",),
            "caseentryfile": ("view",),
        },
    },
    roles.PRIVACY_GROUP: {
        "accounts": {
            "auditevent": ("view",),
            "servicestatuschange": ("view",),
            "customer": ("view", "change"),
            "membership": ("view",),
            "invitation": ("view",),
            "service": ("view",),
            "ipassignment": ("view",),
            "user": ("view", "change"),
            "message": ("view",),
        },
        "privacy": {
            "datasubjectrequest": ("view", "add", "change", "fulfil"),
            "disclosureentry": ("view",),
            "disclosurerelease": ("view", "add"),
            "recipientnotification": ("view", "add"),
            "legalhold": ("view", "add", "change", "manage"),
            "processingrestriction": ("view", "add", "change"),
            "consentrecord": ("view",),
            "policyversion": ("view", "add", "change"),
            "policyacknowledgement": ("view",),
            "postmorteminstruction": ("view",),
            "dataexport": ("view",),
            "erasurerun": ("view",),
            "storagegrant": ("view",),
            "storageaccesssession": ("view",),
            "storageaccesscheck": ("view",),
            "storageaccesstool": ("view", "add", "change"),
            "lawfuldemand": ("view", "handle"),
            "lawfuldisclosure": ("view",),
            "transparencyreport": ("view", "publish"),
        },
    },
    # Accountants use /accounting/ only, never the admin; they need no model permissions.
    roles.ACCOUNTANT_GROUP: {},
}


# Actions that are not Django's view/add/change/delete: the model's Meta.permissions codename.
CUSTOM_PERMISSIONS = {
    ("datasubjectrequest", "fulfil"): "fulfil_request",
    ("legalhold", "manage"): "manage_legal_hold",
    ("accountingexport", "produce"): "produce_accountingexport",
    ("storagegrant", "request"): "request_storage_access",
    ("storagegrant", "necessary"): "necessary_storage_access",
    ("lawfuldemand", "handle"): "handle_lawful_demand",
    ("transparencyreport", "publish"): "publish_transparency_report",
    ("collectortoken", "revoke"): "revoke_collectortoken",
    ("abusecase", "contain"): "contain_service",
}


def permission_codenames(group: str) -> set[tuple[str, str]]:
    """(app_label, codename) of each permission ``group`` has."""
    return {
        (app_label, CUSTOM_PERMISSIONS.get((model, action), f"{action}_{model}"))
        for app_label, by_model in GROUP_PERMISSIONS[group].items()
        for model, actions in by_model.items()
        for action in actions
    }


def sync_groups(apps, schema_editor=None) -> None:
    """Create the groups and give each exactly the permissions above (idempotent; tests use it
    to put back what the migrations made)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    if apps is not global_apps:
        # Inside a migration, permissions for models made by earlier migrations of this
        # run do not exist yet (post_migrate makes them at the end): make them now.
        for app_config in apps.get_app_configs():
            app_config.models_module = True  # create_permissions skips apps without this flag
            create_permissions(app_config, verbosity=0, apps=apps)
            app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name in GROUP_PERMISSIONS:
        group, _ = Group.objects.get_or_create(name=name)
        codenames = permission_codenames(name)
        # A permission that does not exist yet (its model comes later) is skipped.
        wanted = [
            perm
            for perm in Permission.objects.filter(content_type__app_label__in={a for a, _ in codenames}).select_related(
                "content_type"
            )
            if (perm.content_type.app_label, perm.codename) in codenames
        ]
        group.permissions.set(wanted)
