"""Server-rendered pages of accounts: the few that need no keys (emailed links, logout).

Everything else is the browser shell (accounts.views.v2, served on the paths of
accounts/urls_v2.py); pages link to its paths as plain strings.
"""

SHELL_PATH = "/"
LOGIN_PATH = "/login/"


def full_login_required(view):
    """A page for a complete login; anyone else goes to the login with ``?next=``.

    (Half-logged-in sessions never get this far: ``LoginSessionMiddleware`` sends
    them to the shell's next login step.)
    """
    from functools import wraps
    from urllib.parse import urlencode

    from django.shortcuts import redirect

    from accounts import stages

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated or not stages.login_complete(request.session):
            return redirect(f"{LOGIN_PATH}?{urlencode({'next': request.path})}")
        return view(request, *args, **kwargs)

    return wrapper
