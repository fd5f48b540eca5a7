"""The version 2 browser shell's paths: every one renders the same document
(accounts.views.v2.app); the script picks the view from ``config.route`` and the path.
Included before the other URL lists, so a shell path wins over an older page."""

from django.urls import path, re_path

from accounts.views import v2

urlpatterns = [
    path("v2/", v2.app, name="v2-app"),
    # The key pages (static/js/v2/keys/reset.js): the reset request, the emailed reset
    # link (accounts/actions/lifecycle.py) and the held reset's emailed cancel link
    # (accounts/actions/heldreset.py).
    path("password-reset/", v2.app, {"route": "reset-request"}, name="v2-password-reset"),
    re_path(r"^password-reset/cancel/(?P<token>[A-Za-z0-9_-]{20,100})/?$", v2.app,
            {"route": "reset-cancel"}, name="v2-reset-cancel"),
    path("password-reset/<str:uidb64>/<str:token>/", v2.app, {"route": "reset-link"},
         name="v2-password-reset-link"),
]
