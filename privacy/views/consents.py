"""Consents, cookies and instructions for after death: a person's own choices.

These pages belong to the person, not to a customer: any logged-in contact reaches
their own records, whatever their role, and nobody reaches anyone else's (the
queries filter on ``request.user``).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from privacy.models import ConsentRecord, PostMortemInstruction
from privacy.services import consent


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _remember_choice(response: HttpResponse, choice: str) -> None:
    response.set_cookie(
        consent.CHOICE_COOKIE,
        choice,
        max_age=consent.CHOICE_COOKIE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def strictly_necessary_cookies() -> list[dict[str, str]]:
    """The cookies the portal sets without asking, and why each is needed (PECR reg 6(4))."""
    cookies = [
        {
            "name": settings.SESSION_COOKIE_NAME,
            "purpose": "Keeps you logged in and remembers which customer you act for.",
            "lasts": "Until you log out, or two weeks without a visit.",
        },
        {
            "name": settings.CSRF_COOKIE_NAME,
            "purpose": "Protects the portal's forms against cross-site request forgery.",
            "lasts": "One year.",
        },
        {
            "name": "messages",
            "purpose": "Carries a one-off confirmation (such as “Saved”) to the next page.",
            "lasts": "Until the next page is shown.",
        },
    ]
    from allauth.mfa import app_settings as mfa_settings

    if mfa_settings.TRUST_ENABLED:
        cookies.append(
            {
                "name": mfa_settings.TRUST_COOKIE_NAME,
                "purpose": "Remembers, when you ask, that this browser passed two-factor authentication.",
                "lasts": f"{mfa_settings.TRUST_COOKIE_AGE.days} days.",
            }
        )
    if consent.analytics_snippet():
        cookies.append(
            {
                "name": consent.CHOICE_COOKIE,
                "purpose": "Remembers whether you accepted or declined optional analytics cookies, "
                "so that we do not ask on every page.",
                "lasts": "About six months.",
            }
        )
    return cookies


@login_required
def consents(request: HttpRequest) -> HttpResponse:
    records = list(ConsentRecord.objects.filter(person=request.user).order_by("-given_at", "-pk"))
    for record in records:
        record.purpose_label = consent.PURPOSE_LABELS.get(record.purpose, record.purpose)
    snippet_configured = bool(consent.analytics_snippet())
    return render(
        request,
        "privacy/consents.html",
        {
            "records": records,
            "necessary_cookies": strictly_necessary_cookies(),
            "analytics_configured": snippet_configured,
            "analytics_wording": consent.analytics_wording() if snippet_configured else "",
            "analytics_consented": consent.analytics_allowed(request.user),
            "analytics_restricted": snippet_configured and consent.is_restricted(request.user),
        },
    )


@require_POST
def cookie_choice(request: HttpRequest) -> HttpResponse:
    """The banner's (and the consents page's) answer. Works without JavaScript.

    Anonymous visitors: the answer is kept only in a strictly necessary cookie, and the
    analytics never loads for them. Logged-in people: accepting records a consent with
    the exact wording shown; declining withdraws any live one.
    """
    response = HttpResponseRedirect(_safe_next(request, reverse("portal:dashboard")))
    choice = request.POST.get("choice")
    if choice not in ("accept", "decline") or not consent.analytics_snippet():
        return response
    source = "privacy centre consents page" if request.POST.get("source") == "consents" else "cookie banner"
    if choice == "accept":
        _remember_choice(response, consent.ACCEPTED)
        if request.user.is_authenticated:
            shown_on = request.POST.get("next", "")[:150]
            consent.give_analytics_consent(request.user, method=f"{source} on {shown_on}".strip())
            messages.success(request, "Thank you: you agreed to analytics cookies. You can withdraw at any time.")
    else:
        _remember_choice(response, consent.DECLINED)
        if request.user.is_authenticated:
            consent.withdraw_consent(request.user, consent.ANALYTICS_COOKIES)
        messages.success(request, "No optional cookies will be set.")
    return response


@login_required
@require_POST
def withdraw(request: HttpRequest, purpose: str) -> HttpResponse:
    response = redirect("privacy:consents")
    if consent.withdraw_consent(request.user, purpose):
        messages.success(request, f"You withdrew your consent: {consent.PURPOSE_LABELS.get(purpose, purpose)}.")
    if purpose == consent.ANALYTICS_COOKIES:
        _remember_choice(response, consent.DECLINED)
    return response


class PostMortemInstructionForm(forms.Form):
    instructions = forms.CharField(
        label="Your instructions",
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=10_000,
        help_text="For example: delete everything, or give a copy to a named person. Whom should we contact?",
    )


@login_required
@require_http_methods(["GET", "POST"])
def death_instructions(request: HttpRequest) -> HttpResponse:
    existing = PostMortemInstruction.objects.filter(person=request.user).first()
    if request.method == "POST" and request.POST.get("action") == "delete":
        consent.delete_post_mortem_instructions(request.user)
        messages.success(request, "Your instructions have been deleted.")
        return redirect("privacy:death_instructions")
    initial = {"instructions": existing.instructions} if existing else None
    form = PostMortemInstructionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        consent.record_post_mortem_instructions(request.user, form.cleaned_data["instructions"])
        messages.success(request, "Your instructions have been saved.")
        return redirect("privacy:death_instructions")
    return render(request, "privacy/death_instructions.html", {"form": form, "existing": existing})


urlpatterns = [
    path("consents/", consents, name="consents"),
    path("consents/cookies/", cookie_choice, name="cookie_choice"),
    path("consents/<slug:purpose>/withdraw/", withdraw, name="withdraw_consent"),
    path("after-death/", death_instructions, name="death_instructions"),
]
