from __future__ import annotations

from django.urls import path

from accounts.correspondence import views

app_name = "correspondence"

urlpatterns = [
    path("", views.message_list, name="list"),
    path("new/", views.write_to_us, name="write"),
    path("<int:message_id>/", views.message_detail, name="detail"),
    path("<int:message_id>/close/", views.close_conversation, name="close"),
    path("<int:message_id>/attachments/<int:attachment_id>/", views.attachment_download, name="attachment"),
]
