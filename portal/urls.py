from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

# The admin login goes through allauth, so its MFA stage applies to staff.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Hosting portal administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounting/", include("portal.accounting_urls")),
    path("correspondence/", include("accounts.correspondence.urls")),
    path("privacy/", include("privacy.urls")),
    path("storage-access/", include("privacy.storage.views")),
    path("api/storage-access/", include("privacy.storage.api")),
    path("transparency/", include("privacy.lawful.views")),
    path("billing/", include("billing.urls")),
    path("", include("accounts.urls")),
    path("", include("portal.shell_urls")),
]
