"""The customer's Correspondence pages: every message in both directions, and writing to us.

Messages are reached only through ``Message.objects.visible_to(membership)``: the
customer's own messages of the kinds the person's role receives. Anything else is 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.access import customer_view, kept_page, private_download
from accounts.correspondence import conversations, gateway, services
from accounts.correspondence.forms import ReplyInThreadForm, WriteToUsForm
from accounts.correspondence.models import RECIPIENT_ROLES, Conversation, MailKind, Message
from accounts.models import Membership
from core.files import check_verified
from core.pagination import paginate


def _kinds_for(membership: Membership) -> list[MailKind]:
    return [kind for kind in MailKind if membership.role in RECIPIENT_ROLES[kind]]


@customer_view
@kept_page
def message_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    visible = Message.objects.visible_to(membership)
    kinds = _kinds_for(membership)
    kind = request.GET.get("kind", "")
    if kind in {k.value for k in kinds}:
        visible = visible.filter(kind=kind)
    else:
        kind = ""
    threads = (
        visible.annotate(root=Coalesce("thread_id", "id"))
        .values("root")
        .annotate(latest=Max("created_at"), count=Count("id"))
        .order_by("-latest", "-root")
    )
    page = paginate(request, threads)
    root_ids = [row["root"] for row in page]
    roots = Message.objects.filter(customer=membership.customer).select_related("conversation").in_bulk(root_ids)
    rows = [
        {"message": roots[row["root"]], "conversation": _conversation_of(roots[row["root"]]), **row}
        for row in page
        if row["root"] in roots
    ]
    return render(
        request,
        "correspondence/list.html",
        {
            "customer": membership.customer,
            "rows": rows,
            "page": page,
            "kinds": kinds,
            "kind": kind,
        },
    )


def _conversation_of(root: Message) -> Conversation | None:
    try:
        return root.conversation  # fetched with the root (select_related)
    except Conversation.DoesNotExist:
        return None  # mail we sent on our own: no conversation


@customer_view
@kept_page
def message_detail(request: HttpRequest, membership: Membership, message_id: int) -> HttpResponse:
    message = get_object_or_404(Message.objects.visible_to(membership), pk=message_id)
    root = message.thread_id or message.pk
    thread = (
        Message.objects.visible_to(membership)
        .filter(Q(pk=root) | Q(thread_id=root))
        .prefetch_related("attachments")
        .order_by("created_at", "pk")
    )
    conversation = Conversation.objects.filter(root_id=root).first()
    form = ReplyInThreadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        latest = thread.last()
        written = services.write_to_us(
            membership,
            kind=message.kind,
            subject=_reply_subject(thread.first().subject),
            body=form.cleaned_data["body"],
            attachments=_attachments(form),
            in_reply_to=latest,
        )
        messages.success(request, f"Your message was sent. We emailed an acknowledgement to {membership.user.email}.")
        return redirect(f"{reverse('correspondence:detail', args=[written.pk])}#message-{written.pk}")
    return render(
        request,
        "correspondence/detail.html",
        {
            "customer": membership.customer,
            "thread": thread,
            "selected": message,
            "conversation": conversation,
            "form": form,
        },
    )


def _reply_subject(subject: str) -> str:
    subject = subject or "(no subject)"
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"[:200]


def _attachments(form) -> list[gateway.Attachment]:
    return [
        gateway.Attachment(upload.name, upload.read(), upload.content_type or "application/octet-stream")
        for upload in form.cleaned_data["attachments"]
    ]


@customer_view
@require_http_methods(["GET", "POST"])
def close_conversation(request: HttpRequest, membership: Membership, message_id: int) -> HttpResponse:
    """A contact closes the conversation a message of theirs is in (asked first); writing again reopens it."""
    message = get_object_or_404(Message.objects.visible_to(membership), pk=message_id)
    conversation = Conversation.objects.filter(root_id=message.thread_id or message.pk).first()
    if request.method == "POST":
        if conversation is None:
            messages.info(request, "There is nothing to close: this is mail we sent you, with no conversation yet.")
        elif conversations.close(conversation, actor=membership.user):
            messages.success(request, "The conversation is closed. If you write again in it, it opens again.")
        else:
            messages.info(request, "The conversation was already closed.")
        return redirect("correspondence:detail", message.pk)
    return render(
        request,
        "correspondence/close.html",
        {"customer": membership.customer, "selected": message, "conversation": conversation},
    )


@customer_view
@private_download
def attachment_download(
    request: HttpRequest, membership: Membership, message_id: int, attachment_id: int
) -> FileResponse:
    message = get_object_or_404(Message.objects.visible_to(membership), pk=message_id)
    attachment = get_object_or_404(message.attachments.all(), pk=attachment_id)
    check_verified(attachment.file.name, attachment.sha256)
    # Always a download, never rendered inline: the file may come from outside.
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )


@customer_view
def write_to_us(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = WriteToUsForm(
        request.POST or None,
        request.FILES or None,
        role=membership.role,
        initial={"kind": request.GET.get("kind", MailKind.SERVICE)},
    )
    if request.method == "POST" and form.is_valid():
        message = services.write_to_us(
            membership,
            kind=form.cleaned_data["kind"],
            subject=form.cleaned_data["subject"],
            body=form.cleaned_data["body"],
            attachments=_attachments(form),
        )
        messages.success(request, f"Your message was sent. We emailed an acknowledgement to {membership.user.email}.")
        return redirect("correspondence:detail", message.pk)
    return render(request, "correspondence/write.html", {"customer": membership.customer, "form": form})
