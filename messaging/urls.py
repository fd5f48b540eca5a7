from django.urls import path

from messaging.app_views import chat_app

urlpatterns = [
    path("", chat_app, name="home"),
    path("c/<int:conversation_id>/", chat_app, name="chat-conversation"),
]
