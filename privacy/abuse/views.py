"""The customer's Abuse reports pages: the cases about their services, and their answers.

Cases are reached only through the contact's own customer (another customer's case is
404) and only by owners and technical contacts (``roles.Action.ANSWER_ABUSE_REPORTS``;
billing contacts are told why not). What the customer sees of each report is minimised
(``privacy.abuse.minimise``); staff notes and whom staff wrote to are never shown.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts import roles
from accounts.access import customer_view, kept_page, private_download, require_permission
from accounts.models import Membership, ProviderDetails
from core.files import check_verified
from privacy.abuse import cases, minimise
from privacy.abuse.forms import AnswerForm
from privacy.abuse.models import AbuseCase, AbuseEvidence, CaseEntry, CaseEntryFile


def _case(membership: Membership, case_id: int) -> AbuseCase:
    case = get_object_or_404(AbuseCase.objects.select_related("service"), pk=case_id, customer=membership.customer)
    require_permission(membership, roles.Action.ANSWER_ABUSE_REPORTS)
    return case


@customer_view
@kept_page
def case_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.ANSWER_ABUSE_REPORTS)
    found = AbuseCase.objects.for_customer(membership.customer).select_related("service")
    return render(
        request,
        "abuse/case_list.html",
        {
            "customer": membership.customer,
            "open_cases": found.open(),
            "closed_cases": found.exclude(pk__in=found.open()),
        },
    )


@customer_view
@kept_page
def case_detail(request: HttpRequest, membership: Membership, case_id: int) -> HttpResponse:
    case = _case(membership, case_id)
    form = AnswerForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        files = [
            (upload.name, upload.content_type or "application/octet-stream", upload.read())
            for upload in form.cleaned_data["files"]
        ]
        try:
            cases.customer_answer(case, membership=membership, text=form.cleaned_data["text"], files=files)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Thank you: your answer is with our abuse desk.")
            return redirect("abuse:case_detail", case.pk)
    history = (
        case.entries.filter(kind__in=CaseEntry.SHOWN_TO_CUSTOMER).select_related("author").prefetch_related("files")
    )
    evidence = AbuseEvidence.objects.filter(report__case=case, shared_with_customer=True).order_by("pk")
    return render(
        request,
        "abuse/case_detail.html",
        {
            "customer": membership.customer,
            "case": case,
            "reports": minimise.reports_for_customer(case),
            "evidence": evidence,
            "history": history,
            "form": form,
        },
    )


@customer_view
@private_download
def evidence_download(request: HttpRequest, membership: Membership, case_id: int, evidence_id: int) -> FileResponse:
    case = _case(membership, case_id)
    item = get_object_or_404(AbuseEvidence, pk=evidence_id, report__case=case, shared_with_customer=True)
    check_verified(item.file.name, item.sha256)
    return FileResponse(
        item.file.open("rb"), as_attachment=True, filename=f"evidence-{item.pk}", content_type=item.content_type
    )


@customer_view
@private_download
def answer_file(request: HttpRequest, membership: Membership, case_id: int, file_id: int) -> FileResponse:
    case = _case(membership, case_id)
    item = get_object_or_404(CaseEntryFile, pk=file_id, entry__case=case, entry__kind=CaseEntry.Kind.CUSTOMER_ANSWER)
    check_verified(item.file.name, item.sha256)
    return FileResponse(
        item.file.open("rb"), as_attachment=True, filename=item.filename, content_type=item.content_type
    )


def security_txt(request: HttpRequest) -> HttpResponse:
    """``/.well-known/security.txt`` (RFC 9116) from the provider details.

    Served only while it has both required fields, Contact and Expires; an expired file is
    not served (its readers would be told to distrust it anyway), and staff are warned in
    the admin 30 days before (``privacy.abuse.admin``).
    """
    provider = ProviderDetails.current()
    if provider is None or not provider.security_txt_contact or provider.security_txt_expires is None:
        raise Http404("security.txt is not configured.")
    if provider.security_txt_expires <= timezone.now():
        raise Http404("security.txt has expired.")
    lines = [
        f"Contact: {provider.security_txt_contact}",
        f"Expires: {provider.security_txt_expires.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
    ]
    if provider.abuse_email and f"mailto:{provider.abuse_email}" != provider.security_txt_contact:
        lines.append(f"Contact: mailto:{provider.abuse_email}")
    if provider.security_policy_url:
        lines.append(f"Policy: {provider.security_policy_url}")
    if provider.security_languages.strip():
        lines.append(f"Preferred-Languages: {provider.security_languages.strip()}")
    lines.append(f"Canonical: {request.build_absolute_uri(request.path)}")
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
