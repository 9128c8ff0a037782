from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from privacy.abuse import views as abuse_views

# The admin login goes through allauth, so its MFA stage applies to staff.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Hosting portal administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounting/", include("portal.accounting_urls")),
    path("correspondence/", include("accounts.correspondence.urls")),
    path("privacy/", include("privacy.urls")),
    path("abuse/", include("privacy.abuse.urls")),
    path(".well-known/security.txt", abuse_views.security_txt, name="security_txt"),
    path("billing/", include("billing.urls")),
    path("", include("accounts.urls")),
    path("", include("portal.shell_urls")),
]
