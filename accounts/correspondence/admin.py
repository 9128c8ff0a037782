"""Staff see every message, assign or reject quarantined ones, reply, and retry failed delivery."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts import overview
from accounts.adminkit import ViewOnlyPage, customer_choice, customer_filter
from accounts.correspondence import gateway, inbound, services
from accounts.correspondence.display import inert_links
from accounts.correspondence.models import Message, MessageAttachment, MessageRecipient
from accounts.models import Customer
from accounts.staff_files import serve_to_staff


class AttachmentInline(admin.TabularInline):
    model = MessageAttachment
    fields = ("download", "content_type", "size", "sha256")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Part of the message: whoever may read the message may open its files (each opening recorded).
        return request.user.has_perm("accounts.view_message")

    @admin.display(description="File")
    def download(self, obj: MessageAttachment) -> str:
        url = reverse("admin:accounts_message_attachment", args=[obj.message_id, obj.pk])
        return format_html('<a href="{}" download>{}</a>', url, obj.filename)


class RecipientInline(admin.TabularInline):
    """What the mail server answered for each recipient of a message we sent."""

    model = MessageRecipient
    fields = ("address", "status", "reply", "attempts", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Delivery to each recipient"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Part of the message: whoever may see the message sees how its delivery went.
        return request.user.has_perm("accounts.view_message")


class ReplyForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), label="Your reply")
    attachment = forms.FileField(required=False)


class AssignForm(forms.Form):
    customer = customer_choice(Message._meta.get_field("customer"))


@admin.register(Message)
class MessageAdmin(ViewOnlyPage, admin.ModelAdmin):
    @admin.display(description="Sender", ordering="sender_verified")
    def sender(self, message: Message) -> str:
        if message.direction == Message.Direction.OUTBOUND or message.sender_verified is None:
            return "—"
        return "Verified" if message.sender_verified else "Not verified"

    list_display = ("created_at", "direction", "kind", "status", "customer", "subject", "from_address", "sender")
    list_filter = ("direction", "status", "kind", "sender_verified", customer_filter())
    search_fields = ("subject", "from_address", "customer__registered_name", "customer__trading_name", "message_id")
    list_select_related = ("customer",)
    date_hierarchy = "created_at"
    inlines = [RecipientInline, AttachmentInline]
    actions = ["retry_delivery", "reject_messages"]
    readonly_fields = (
        "direction",
        "kind",
        "status",
        "customer",
        "person",
        "from_address",
        "sender_check",
        "recipients",
        "subject",
        "body_text",
        "html_body",
        "message_id",
        "reused_message_id",
        "thread",
        "in_reply_to",
        "created_at",
        "created_by",
        "attempts",
        "sent_at",
        "last_error",
        "parse_error",
        "triaged_by",
        "triaged_at",
        "staff_links",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "staff_links",
                    "direction",
                    "kind",
                    "status",
                    "customer",
                    "person",
                    "created_at",
                    "created_by",
                )
            },
        ),
        (
            "Message",
            {
                "fields": (
                    "from_address",
                    "sender_check",
                    "recipients",
                    "subject",
                    "body_text",
                    "html_body",
                    "message_id",
                    "reused_message_id",
                    "thread",
                    "in_reply_to",
                )
            },
        ),
        (
            "Delivery and triage",
            {"fields": ("attempts", "sent_at", "last_error", "parse_error", "triaged_by", "triaged_at")},
        ),
    )

    @admin.display(description="HTML part (links shown, not live)")
    def html_body(self, obj: Message):
        if not obj.body_html:
            return "—"
        return obj.body_html if obj.direction == Message.Direction.OUTBOUND else inert_links(obj.body_html)

    def has_add_permission(self, request) -> bool:
        return False  # messages come from the gateway and the inbound archive only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # correspondence is kept; erasure anonymises it

    @admin.display(description="To")
    def recipients(self, obj: Message) -> str:
        return ", ".join(obj.to_addresses)

    @admin.display(description="Actions")
    def staff_links(self, obj: Message) -> str:
        links = []
        if obj.direction == Message.Direction.INBOUND and obj.status == Message.Status.QUARANTINED:
            links.append((reverse("admin:accounts_message_assign", args=[obj.pk]), "Assign to a customer"))
        if obj.customer_id:
            links.append((reverse("admin:accounts_message_reply", args=[obj.pk]), "Reply"))
        if obj.raw:
            links.append((reverse("admin:accounts_message_original", args=[obj.pk]), "Download the original email"))
        return format_html_join(" · ", '<a href="{}">{}</a>', links) or "—"

    def get_urls(self):
        return [
            path("<int:pk>/reply/", self.admin_site.admin_view(self.reply_view), name="accounts_message_reply"),
            path("<int:pk>/assign/", self.admin_site.admin_view(self.assign_view), name="accounts_message_assign"),
            path(
                "<int:pk>/attachments/<int:attachment_id>/",
                self.admin_site.admin_view(self.attachment_view),
                name="accounts_message_attachment",
            ),
            path(
                "<int:pk>/original/", self.admin_site.admin_view(self.original_view), name="accounts_message_original"
            ),
            *super().get_urls(),
        ]

    def attachment_view(self, request, pk: int, attachment_id: int):
        """An attachment, always as a download (it may come from outside), to staff who may read mail."""
        attachment = get_object_or_404(MessageAttachment, pk=attachment_id, message_id=pk)
        return serve_to_staff(
            request,
            obj=attachment.message,
            file=attachment.file,
            sha256=attachment.sha256,
            filename=attachment.filename,
            content_type=attachment.content_type or "application/octet-stream",
            permission="accounts.view_message",
            what=f"the attachment {attachment.filename}",
        )

    def original_view(self, request, pk: int):
        """The received email exactly as it arrived (.eml), for evidence or a closer look."""
        message = get_object_or_404(Message, pk=pk)
        return serve_to_staff(
            request,
            obj=message,
            file=message.raw,
            sha256=message.raw_sha256,
            filename=f"message-{message.pk}.eml",
            content_type="message/rfc822",
            permission="accounts.view_message",
            what="the original email",
        )

    def _changeable(self, request, pk: int) -> Message:
        message = get_object_or_404(Message, pk=pk)
        # Replying and assigning are the work the change permission allows, each on its own page.
        if not request.user.has_perm("accounts.change_message"):
            raise PermissionDenied
        return message

    def reply_view(self, request, pk: int):
        original = self._changeable(request, pk)
        form = ReplyForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["attachment"]
            attachments = [gateway.Attachment(upload.name, upload.read(), upload.content_type)] if upload else []
            try:
                with transaction.atomic():
                    sent = services.reply(
                        original, body=form.cleaned_data["body"], actor=request.user, attachments=attachments
                    )
            except (ValueError, gateway.NoRecipients) as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Reply queued to {', '.join(sent.to_addresses)}.", messages.SUCCESS)
                return redirect("admin:accounts_message_change", sent.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reply to “{original}”",
            "form": form,
            "original": original,
            "opts": self.model._meta,
        }
        return render(request, "admin/accounts/message/reply.html", context)

    def assign_view(self, request, pk: int):
        message = self._changeable(request, pk)
        form = AssignForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                inbound.assign(message, form.cleaned_data["customer"], actor=request.user)
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Assigned to {form.cleaned_data['customer']}.", messages.SUCCESS)
                return redirect("admin:accounts_message_change", message.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Assign “{message}”",
            "form": form,
            "original": message,
            "opts": self.model._meta,
        }
        return render(request, "admin/accounts/message/assign.html", context)

    @admin.action(description="Retry delivery of failed messages", permissions=["change"])
    def retry_delivery(self, request, queryset) -> None:
        retried = sum(services.retry_failed(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{retried} message(s) queued again.", messages.SUCCESS)

    @admin.action(description="Reject quarantined messages (not from a customer; still kept)", permissions=["change"])
    def reject_messages(self, request, queryset) -> None:
        done = 0
        for message in queryset.filter(status=Message.Status.QUARANTINED):
            inbound.reject(message, actor=request.user)
            done += 1
        self.message_user(request, f"{done} message(s) rejected.", messages.SUCCESS)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer")


@overview.section(70)
def correspondence_section(request, customer: Customer) -> overview.Section | None:
    """The customer's latest messages, in and out, with Reply on what they sent us."""
    if not request.user.has_perm("accounts.view_message"):
        return None
    shown, total = overview.latest(Message.objects.filter(customer=customer).order_by("-created_at", "-pk"))
    may_reply = request.user.has_perm("accounts.change_message")
    rows = [
        (
            overview.when(message.created_at),
            "From them" if message.direction == Message.Direction.INBOUND else "To them",
            message.get_kind_display(),
            overview.Link(message.subject or "(no subject)", overview.admin_url("accounts_message_change", message.pk)),
            message.get_status_display(),
            overview.Link("Reply", overview.admin_url("accounts_message_reply", message.pk))
            if may_reply and message.direction == Message.Direction.INBOUND
            else None,
        )
        for message in shown
    ]
    return overview.Section(
        "correspondence",
        "Correspondence",
        ("Date", "Direction", "Kind", "Subject", "Status", ""),
        rows=rows,
        total=total,
        all_url=overview.admin_url("accounts_message_changelist", customer=customer.pk),
        empty="No messages.",
    )
