"""URLs of the v2 messaging API (docs/api.md, "Version 2 conversations")."""

from django.urls import path

from messaging.v2 import api

PREFIX = "api/v1/v2/conversations"

urlpatterns = [
    path(PREFIX, api.conversations, name="api-v2-conversations"),
    path(f"{PREFIX}/<str:conversation_id>/members", api.members, name="api-v2-members"),
    path(f"{PREFIX}/<str:conversation_id>/epochs", api.epochs, name="api-v2-epochs"),
    path(f"{PREFIX}/<str:conversation_id>/timeline", api.timeline, name="api-v2-timeline"),
    path(f"{PREFIX}/<str:conversation_id>/messages", api.messages, name="api-v2-messages"),
    path(f"{PREFIX}/<str:conversation_id>/read", api.read, name="api-v2-read"),
    path(f"{PREFIX}/<str:conversation_id>/messages/<str:message_hash>/unsend", api.unsend,
         name="api-v2-unsend"),
]
