"""Conversations: each thread of correspondence with a customer gets a status, a desk and
an optional assignee (docs/correspondence.md).

Existing threads in which a customer wrote, or staff replied, become conversations: waiting
for us if the customer wrote last, otherwise waiting for the customer, since that last
message. Acknowledgements and other mail we send on our own do not count as an answer.
The desk follows the address the customer first wrote to, else the kind of mail. What it
needs is written out here, so it does the same on every installation whatever the code becomes.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# The provider's address each desk receives mail at, and the desk for each kind of mail.
ADDRESS_FIELDS = {
    "support_email": "support",
    "billing_email": "billing",
    "abuse_email": "abuse",
    "privacy_email": "privacy",
}
KIND_DEPARTMENTS = {
    "service": "support",
    "security": "support",
    "billing": "billing",
    "legal": "billing",
    "abuse": "abuse",
    "privacy": "privacy",
}


def give_threads_a_status(apps, schema_editor):
    Message = apps.get_model("accounts", "Message")
    Conversation = apps.get_model("accounts", "Conversation")
    ProviderDetails = apps.get_model("accounts", "ProviderDetails")
    provider = ProviderDetails.objects.filter(pk=1).first()
    desks = {}
    if provider is not None:
        for field, desk in ADDRESS_FIELDS.items():
            address = (getattr(provider, field, "") or "").lower()
            if address:
                desks.setdefault(address, desk)
    threads = {}  # root id -> {"last": (direction, when), "first_in": (to_addresses, kind) or None}
    written = (
        Message.objects.filter(customer__isnull=False)
        .filter(models.Q(direction="in", status="received") | models.Q(direction="out", template="staff_reply"))
        .order_by("created_at", "pk")
        .values_list("pk", "thread_id", "direction", "created_at", "to_addresses", "kind")
    )
    for pk, thread_id, direction, created_at, to_addresses, kind in written.iterator(chunk_size=2000):
        thread = threads.setdefault(thread_id or pk, {"first_in": None})
        thread["last"] = (direction, created_at)
        if direction == "in" and thread["first_in"] is None:
            thread["first_in"] = (to_addresses or [], kind)
    roots = Message.objects.filter(pk__in=list(threads), customer__isnull=False).values_list("pk", "kind")
    rows = []
    for root_id, root_kind in roots.iterator(chunk_size=2000):
        thread = threads[root_id]
        direction, when = thread["last"]
        to_addresses, kind = thread["first_in"] or ([], root_kind)
        desk = next(
            (desks[address.lower()] for address in to_addresses if address.lower() in desks),
            KIND_DEPARTMENTS.get(kind, "support"),
        )
        rows.append(
            Conversation(
                root_id=root_id,
                status="waiting_us" if direction == "in" else "waiting_customer",
                status_since=when,
                department=desk,
                created_at=when,
            )
        )
    Conversation.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0023_labels_in_plain_words"),
    ]

    operations = [
        migrations.CreateModel(
            name="Conversation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("waiting_us", "Waiting for us"),
                            ("waiting_customer", "Waiting for customer"),
                            ("closed", "Closed"),
                        ],
                        max_length=20,
                    ),
                ),
                ("status_since", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "department",
                    models.CharField(
                        choices=[
                            ("support", "Support"),
                            ("billing", "Billing"),
                            ("abuse", "Abuse"),
                            ("privacy", "Privacy"),
                        ],
                        max_length=20,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        help_text="The member of staff answering it; anyone on the desk may, if nobody is.",
                        limit_choices_to={"is_active": True, "is_staff": True},
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "root",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT, related_name="conversation", to="accounts.message"
                    ),
                ),
            ],
            options={
                "ordering": ["status_since", "pk"],
                "indexes": [models.Index(fields=["status", "department", "status_since"], name="conversation_queue")],
            },
        ),
        migrations.RunPython(give_threads_a_status, migrations.RunPython.noop),
    ]
