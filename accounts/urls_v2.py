"""The version 2 browser shell (/v2/), beside version 1 until the cutover."""

from django.urls import path

from accounts.views import v2

urlpatterns = [
    path("v2/", v2.app, name="v2-app"),
]
