"""Server-rendered pages of accounts, and the decorator every logged-in page uses."""

from functools import wraps

from django.shortcuts import redirect
from django.urls import reverse

from accounts import unlock


def full_login_required(view):
    """A page for a complete, unlocked login; anyone else goes to the login with ``?next=``.

    (Half-logged-in sessions never get this far: ``LoginSessionMiddleware`` sends
    them to their next login step.) Version 2 changes what "complete" means here
    only.
    """
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated or unlock.unlocked_identity(request) is None:
            return redirect(f"{reverse('login')}?next={request.path}")
        return view(request, *args, **kwargs)

    return wrapper
