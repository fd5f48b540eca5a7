from django.urls import path

from accounts import api

urlpatterns = [
    path("api/v1/csrf", api.csrf, name="api-csrf"),
]
