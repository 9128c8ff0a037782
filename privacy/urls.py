"""The privacy centre: each topic's views module contributes its URLs."""

from __future__ import annotations

from privacy.views import centre, consents, disclosures, exports, held, requests

app_name = "privacy"

urlpatterns = [
    *centre.urlpatterns,
    *held.urlpatterns,
    *disclosures.urlpatterns,
    *exports.urlpatterns,
    *requests.urlpatterns,
    *consents.urlpatterns,
]
