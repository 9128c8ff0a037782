"""Staff see every message, assign or reject quarantined ones, reply, and retry failed delivery;
and work conversations: their status, desk and assignee, the thread, replying and closing."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts import overview
from accounts.adminkit import ViewOnlyPage, customer_choice, customer_filter
from accounts.correspondence import conversations, gateway, inbound, services
from accounts.correspondence.display import inert_links
from accounts.correspondence.models import Conversation, Message, MessageAttachment, MessageRecipient
from accounts.models import Customer, Membership, User
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


class ContactChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, membership: Membership) -> str:
        name, email = membership.user.full_name, membership.user.email
        who = f"{name} <{email}>" if name else email
        return f"{who} ({membership.get_role_display()})"


class ReplyForm(forms.Form):
    recipients = ContactChoice(
        queryset=Membership.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label="Send to",
        help_text="The customer's contacts who may receive this kind of mail, and the one who wrote.",
        error_messages={"invalid_choice": "%(value)s is not one of this customer's contacts you can reply to."},
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), label="Your reply")
    attachment = forms.FileField(required=False)
    close = forms.BooleanField(
        required=False, label="Close the conversation with this reply (the customer can reopen it by writing)"
    )

    def __init__(self, *args, original: Message, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recipients"].queryset = services.reply_options(original)
        self.fields["recipients"].initial = [m.pk for m in services.default_recipients(original)]


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
        conversation = Conversation.objects.filter(root_id=obj.thread_id or obj.pk).first()
        if conversation is not None:
            links.append(
                (
                    reverse("admin:accounts_conversation_change", args=[conversation.pk]),
                    f"Conversation ({conversation.get_status_display().lower()})",
                )
            )
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
        form = ReplyForm(request.POST or None, request.FILES or None, original=original)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["attachment"]
            attachments = [gateway.Attachment(upload.name, upload.read(), upload.content_type)] if upload else []
            try:
                with transaction.atomic():
                    sent = services.reply(
                        original,
                        body=form.cleaned_data["body"],
                        actor=request.user,
                        attachments=attachments,
                        to=list(form.cleaned_data["recipients"]),
                        close=form.cleaned_data["close"],
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


class ConversationStaffFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        return [("me", "Me"), ("nobody", "Nobody")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(assignee=None)
        return queryset


class ConversationForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["department", "assignee"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = User.objects.filter(is_staff=True, is_active=True).order_by("email")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Conversations with customers: oldest waiting first, by desk, status and assignee.

    Whoever may read and answer mail (the message permissions) works conversations; staff
    change the desk and the assignee here, reply from the thread and close them.
    """

    form = ConversationForm
    list_display = ("subject", "customer", "status", "department", "assignee", "status_since")
    list_filter = ("status", "department", ConversationStaffFilter)
    list_select_related = ("root__customer", "assignee")
    search_fields = ("root__subject", "root__customer__registered_name", "root__customer__trading_name")
    ordering = ("status_since", "pk")
    actions = ["close_conversations", "assign_to_me"]
    fields = ("thread_links", "customer", "status", "status_since", "department", "assignee", "thread")
    readonly_fields = ("thread_links", "customer", "status", "status_since", "thread")

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("accounts.view_message")

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("accounts.change_message")

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False  # a conversation begins when a customer writes or staff reply

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Subject", ordering="root__subject")
    def subject(self, obj: Conversation) -> str:
        return str(obj.root)

    @admin.display(description="Customer", ordering="root__customer__registered_name")
    def customer(self, obj: Conversation):
        return obj.root.customer

    @admin.display(description="Actions")
    def thread_links(self, obj: Conversation) -> str:
        links = []
        latest = self._latest_from_customer(obj)
        links.append((reverse("admin:accounts_message_reply", args=[latest.pk]), "Reply"))
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="Messages")
    def thread(self, obj: Conversation) -> str:
        messages_ = Message.objects.filter(Q(pk=obj.root_id) | Q(thread_id=obj.root_id)).order_by("created_at", "pk")
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> — {}, {}</li>',
                (
                    (
                        reverse("admin:accounts_message_change", args=[m.pk]),
                        m.subject or "(no subject)",
                        "from us" if m.direction == Message.Direction.OUTBOUND else f"from {m.from_address}",
                        f"{m.created_at:%-d %b %Y %H:%M}",
                    )
                    for m in messages_
                ),
            ),
        )

    def _latest_from_customer(self, obj: Conversation) -> Message:
        """What a reply answers: the customer's latest message in the thread, else its first."""
        return (
            Message.objects.filter(Q(pk=obj.root_id) | Q(thread_id=obj.root_id))
            .filter(direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED)
            .order_by("-created_at", "-pk")
            .first()
            or obj.root
        )

    def save_model(self, request, obj: Conversation, form, change: bool) -> None:
        conversations.change(
            obj,
            actor=request.user,
            department=form.cleaned_data["department"],
            assignee=form.cleaned_data["assignee"],
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/close/",
                self.admin_site.admin_view(self.close_view),
                name="accounts_conversation_close",
            ),
            *super().get_urls(),
        ]

    def close_view(self, request, pk: int):
        conversation = get_object_or_404(Conversation, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, conversation):
            raise PermissionDenied
        if conversations.close(conversation, actor=request.user):
            self.message_user(request, "Conversation closed.", messages.SUCCESS)
        else:
            self.message_user(request, "The conversation was already closed.", messages.INFO)
        return redirect("admin:accounts_conversation_change", conversation.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"close_url": reverse("admin:accounts_conversation_close", args=[object_id])}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.action(description="Close the chosen conversations", permissions=["change"])
    def close_conversations(self, request, queryset) -> None:
        closed = sum(conversations.close(c, actor=request.user) for c in queryset.select_related("root"))
        self.message_user(request, f"{closed} conversation(s) closed.", messages.SUCCESS)

    @admin.action(description="Assign the chosen conversations to me", permissions=["change"])
    def assign_to_me(self, request, queryset) -> None:
        changed = sum(conversations.change(c, actor=request.user, assignee=request.user) for c in queryset)
        self.message_user(request, f"{changed} conversation(s) assigned to you.", messages.SUCCESS)
