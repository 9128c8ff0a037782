from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from allauth.account.views import PasswordResetView
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from billing.views.usage_ingest import receive_samples
from core.timing import uniform_post_timing
from privacy.abuse import views as abuse_views

# The admin login goes through allauth, so its MFA stage applies to staff.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Hosting portal administration"


class FaviconRedirect(RedirectView):
    """Browsers ask for /favicon.ico whatever the page says: send them to the icon."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("portal/favicon.svg")


urlpatterns = [
    path("favicon.ico", FaviconRedirect.as_view()),
    path("admin/", admin.site.urls),
    # A reset asked for a known address stores and sends an email; for an unknown one
    # nothing happens: the same answer, padded to the same time (core.timing).
    path("accounts/password/reset/", uniform_post_timing()(PasswordResetView.as_view()), name="account_reset_password"),
    path("accounts/", include("allauth.urls")),
    path("accounting/", include("portal.accounting_urls")),
    path("correspondence/", include("accounts.correspondence.urls")),
    path("privacy/", include("privacy.urls")),
    path("storage-access/", include("privacy.storage.views")),
    path("api/storage-access/", include("privacy.storage.api")),
    path("transparency/", include("privacy.lawful.views")),
    path("abuse/", include("privacy.abuse.urls")),
    path(".well-known/security.txt", abuse_views.security_txt, name="security_txt"),
    path("billing/", include("billing.urls")),
    # Usage collectors post samples here with their token (docs/usage.md).
    path("api/usage/samples", receive_samples, name="usage_samples"),
    path("", include("accounts.urls")),
    path("", include("portal.shell_urls")),
]
