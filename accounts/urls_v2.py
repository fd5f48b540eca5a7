"""The version 2 browser shell is the site: every page path below renders the one shell
document (accounts.views.v2.app), whose client router (static/js/v2/router.js) opens
the view for the path. Included FIRST by accounts/urls.py so these win over any older
page route with the same path.

To add a page: add its path here (same view, a name), register its view with the
router (static/js/v2/router.js explains how), and list the name in
accounts.middleware.HALF_LOGGED_IN_ALLOWED if it must open during a half login.
"""

from django.urls import path

from accounts.views import v2

# (path, URL name); the names are the ones the rest of the site reverses.
SHELL_PATHS = [
    ("", "home"),
    ("login/", "login"),
    ("signup/", "signup"),
    ("me/", "me"),
    ("password-reset/", "password-reset"),
    ("password-reset/cancel/<str:token>", "password-reset-cancel"),
    ("password-reset/<str:uidb64>/<str:token>/", "password-reset-link"),
]
SHELL_NAMES = frozenset(name for _, name in SHELL_PATHS)

urlpatterns = [
    *(path(route, v2.app, name=name) for route, name in SHELL_PATHS),
    # The shell lived at /v2/ beside version 1; old bookmarks land on the site.
    path("v2/", v2.moved, name="v2-app"),
]
