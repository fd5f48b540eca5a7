"""URLs of the messaging JSON API outside the v2 conversations (docs/api.md): blocks."""

from django.urls import path

from messaging import api

urlpatterns = [
    path("api/v1/users/block", api.block, name="api-block"),
    path("api/v1/users/unblock", api.unblock, name="api-unblock"),
]
