"""Server-rendered pages of accounts: the few that need no keys (emailed links, logout).

Everything else is the browser shell (accounts.views.v2, served on the paths of
accounts/urls_v2.py); pages link to its paths as plain strings.
"""

from __future__ import annotations

from django.shortcuts import render

from accounts.errors import ApiError

SHELL_PATH = "/"
LOGIN_PATH = "/login/"


def action_page(request, template: str, action, /, *args, done=None, refused=None,
                status: int | None = None, **kwargs):
    """A page that runs one action: ``action(*args, **kwargs)``, then ``template``
    (``request`` may be one of the action's keywords too).

    ``done`` is the context after it succeeded (or a function of what it
    returned); when it refuses (``ApiError``), the context is ``refused`` with
    the refusal's text as ``detail``, at ``status`` (the refusal's own unless given).
    """
    try:
        result = action(*args, **kwargs)
    except ApiError as exc:
        return render(request, template, {**(refused or {}), "detail": str(exc)},
                      status=status or exc.status)
    return render(request, template, done(result) if callable(done) else (done or {}))
