"""The customer's Abuse reports pages (privacy.abuse.views)."""

from __future__ import annotations

from django.urls import path

from privacy.abuse import views

app_name = "abuse"

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("<int:case_id>/", views.case_detail, name="case_detail"),
    path("<int:case_id>/evidence/<int:evidence_id>/", views.evidence_download, name="evidence"),
    path("<int:case_id>/answers/<int:file_id>/", views.answer_file, name="answer_file"),
]
