from django.urls import path

from messaging.app_views import chat_app, contact_keys

urlpatterns = [
    path("", chat_app, name="home"),
    path("c/<int:conversation_id>/", chat_app, name="chat-conversation"),
    path("api/v1/conversations/<int:conversation_id>/keys", contact_keys,
         name="api-contact-keys"),
]
