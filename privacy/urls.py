"""The privacy centre: each topic's views module contributes its URLs."""

from __future__ import annotations

from privacy.views import centre, consents, disclosures, exports, requests, what_we_hold

app_name = "privacy"

urlpatterns = [
    *centre.urlpatterns,
    *what_we_hold.urlpatterns,
    *disclosures.urlpatterns,
    *exports.urlpatterns,
    *requests.urlpatterns,
    *consents.urlpatterns,
]
