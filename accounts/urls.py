"""The customer's own pages: details, contacts, invitations and services."""

from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("profile/edit/", views.profile_edit, name="profile_edit"),
    path("activity/", views.activity, name="activity"),
    path("contacts/", views.contacts, name="contacts"),
    path("contacts/invite/", views.invite_contact, name="invite_contact"),
    path("contacts/<int:membership_id>/role/", views.change_contact_role, name="change_contact_role"),
    path("contacts/<int:membership_id>/remove/", views.remove_contact, name="remove_contact"),
    path("invitations/<int:invitation_id>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("invitations/accept/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("services/", views.service_list, name="services"),
    path("services/<int:service_id>/", views.service_detail, name="service_detail"),
]
