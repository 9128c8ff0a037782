"""Staff groups and their permissions: one definition, applied by data migrations.

Later apps add their models' permissions here and ship a migration that calls
``sync_groups`` again, so a fresh install and an upgraded one end up the same.
"""

from __future__ import annotations

from accounts import roles

# group name → {app_label: {model_name: actions}}
GROUP_PERMISSIONS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    roles.SUPPORT_GROUP: {
        "accounts": {
            "customer": ("view", "change"),
            "membership": ("view", "add", "change"),
            "invitation": ("view", "add"),
            "service": ("view", "add", "change"),
            "ipassignment": ("view", "add", "change"),
            "user": ("view",),
            # change = assign quarantined mail, reply, retry delivery (accounts.correspondence.admin)
            "message": ("view", "change"),
        },
        # Support takes privacy requests by letter or phone and passes them to the privacy officer.
        "privacy": {"datasubjectrequest": ("view", "add")},
    },
    roles.BILLING_GROUP: {
        "accounts": {
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
            "billingsettings": ("view", "add", "change"),
        },
    },
    roles.ABUSE_GROUP: {
        "accounts": {
            "customer": ("view",),
            "service": ("view", "change"),
            "ipassignment": ("view",),
            "message": ("view", "change"),
        },
    },
    roles.PRIVACY_GROUP: {
        "accounts": {
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
        },
    },
    # Accountants use /accounting/ only, never the admin; they need no model permissions.
    roles.ACCOUNTANT_GROUP: {},
}


# Actions that are not Django's view/add/change/delete: the model's Meta.permissions codename.
CUSTOM_PERMISSIONS = {
    ("datasubjectrequest", "fulfil"): "fulfil_request",
    ("legalhold", "manage"): "manage_legal_hold",
}


def sync_groups(apps, schema_editor=None) -> None:
    """Create the groups and give each exactly the permissions above (idempotent)."""
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
    for name, by_app in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        codenames = {
            (app_label, CUSTOM_PERMISSIONS.get((model, action), f"{action}_{model}"))
            for app_label, by_model in by_app.items()
            for model, actions in by_model.items()
            for action in actions
        }
        # A model added by a later migration has no permission yet at an earlier one:
        # skip it there; the migration that adds the model calls sync_groups again.
        wanted = [
            perm
            for perm in Permission.objects.filter(content_type__app_label__in={a for a, _ in codenames}).select_related(
                "content_type"
            )
            if (perm.content_type.app_label, perm.codename) in codenames
        ]
        group.permissions.set(wanted)
