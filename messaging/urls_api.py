"""URLs of the messaging JSON API (docs/api.md) and the history page."""

from django.urls import path

from messaging import api, views

urlpatterns = [
    path("api/v1/conversations", api.conversations, name="api-conversations"),
    path("api/v1/conversations/<int:conversation_id>", api.conversation,
         name="api-conversation"),
    path("api/v1/conversations/<int:conversation_id>/messages", api.messages,
         name="api-messages"),
    path("api/v1/conversations/<int:conversation_id>/messages/<str:message_id>", api.message,
         name="api-message"),
    path("api/v1/conversations/<int:conversation_id>/read", api.read, name="api-read"),
    path("api/v1/conversations/<int:conversation_id>/leave", api.leave, name="api-leave"),
    path("api/v1/conversations/<int:conversation_id>/accept-key", api.accept_key,
         name="api-accept-key"),
    path("api/v1/conversations/<int:conversation_id>/expiry", api.expiry, name="api-expiry"),
    path("api/v1/users/block", api.block, name="api-block"),
    path("api/v1/users/unblock", api.unblock, name="api-unblock"),
    path("conversations/<int:conversation_id>/", views.history, name="conversation-history"),
]
