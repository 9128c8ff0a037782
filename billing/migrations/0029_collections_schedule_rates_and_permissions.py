from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import migrations

# Bank of England Official Bank Rate changes (the Bank's published "Bank Rate history"),
# from the rate in force since 2009: enough for any debt still collectable. Staff add
# later changes in Billing → Reference rates.
SOURCE = "Bank of England, Official Bank Rate history"
BANK_RATE = [
    ("2009-03-05", "0.50"),
    ("2016-08-04", "0.25"),
    ("2017-11-02", "0.50"),
    ("2018-08-02", "0.75"),
    ("2020-03-11", "0.25"),
    ("2020-03-19", "0.10"),
    ("2021-12-16", "0.25"),
    ("2022-02-03", "0.50"),
    ("2022-03-17", "0.75"),
    ("2022-05-05", "1.00"),
    ("2022-06-16", "1.25"),
    ("2022-08-04", "1.75"),
    ("2022-09-22", "2.25"),
    ("2022-11-03", "3.00"),
    ("2022-12-15", "3.50"),
    ("2023-02-02", "4.00"),
    ("2023-03-23", "4.25"),
    ("2023-05-11", "4.50"),
    ("2023-06-22", "5.00"),
    ("2023-08-03", "5.25"),
    ("2024-08-01", "5.00"),
    ("2024-11-07", "4.75"),
    ("2025-02-06", "4.50"),
    ("2025-05-08", "4.25"),
    ("2025-08-07", "4.00"),
    ("2025-12-18", "3.75"),
]

# The reminder schedule until staff change it.
STEPS = [
    (-3, "Reminder before the due date", False),
    (0, "Due today", False),
    (7, "First reminder", False),
    (14, "Second reminder", False),
    (21, "Final notice", True),
]

SCHEDULE = "Send payment reminders"

# What this migration gives each staff group, written out here rather than read from
# accounts.groups, so that it does the same whatever that module says later.
GRANTS = {
    "Billing": [
        *(
            f"billing.{a}_{m}"
            for m in ("dunningstep", "referencerate", "collectionagency", "collectionssettings")
            for a in ("view", "add", "change")
        ),
        *(
            f"billing.{a}_{m}"
            for m in (
                "collectionspause",
                "dispute",
                "letter",
                "letterreply",
                "handoff",
                "latepaymentwaiver",
                "writeoff",
                "suspensionnotice",
            )
            for a in ("view", "add", "change")
        ),
        *(f"billing.view_{m}" for m in ("remindersent", "latepaymentcharge", "disputeattachment", "handoffevent")),
        "billing.add_handoffevent",
        "billing.add_latepaymentcharge",
    ],
}


def forwards(apps, schema_editor) -> None:
    ReferenceRate = apps.get_model("billing", "ReferenceRate")
    for day, rate in BANK_RATE:
        ReferenceRate.objects.get_or_create(
            valid_from=dt.date.fromisoformat(day), defaults={"rate": Decimal(rate), "source": SOURCE}
        )
    DunningStep = apps.get_model("billing", "DunningStep")
    if not DunningStep.objects.exists():
        for days, name, final in STEPS:
            DunningStep.objects.create(days_after_due=days, name=name, is_final=final)
    crontab, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
        minute="30", hour="8", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Europe/London"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name=SCHEDULE,
        defaults={
            "task": "billing.tasks.run_collections",
            "enabled": True,
            "description": "Daily: payment reminders due today (each document and step once), then suspensions "
            "whose notice has run out and services to restore after payment.",
            "crontab": crontab,
        },
    )

    from django.contrib.auth.management import create_permissions

    for label in sorted({perm.split(".")[0] for perms in GRANTS.values() for perm in perms}):
        app_config = apps.get_app_config(label)
        app_config.models_module = True  # create_permissions skips an app without it
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in (perm.split(".") for perm in perms):
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def backwards(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0028_collections"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(forwards, backwards)]
