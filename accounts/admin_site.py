"""The project's admin site: django-otp's ``OTPAdminSite`` (DESIGN.md §4, §7).

Only a user verified by a confirmed second-factor device in this session gets
past ``has_permission``; a password alone never opens ``/admin/``. The login
page asks for the email, the password and a code at once and runs the same
actions as the site's login (``do_login`` then ``do_login_code``): the same
per-address and per-account rate limits, the key-derivation slot, the
identity unlock and the session-key rotation. A correct password for an
account without a second factor is refused and leaves nobody logged in.

Other modules register their ModelAdmins on ``site`` (``accounts.admin_site.site``),
read-only ones with the ``ReadOnly`` mixin.
"""

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django_otp.admin import OTPAdminSite

from accounts import actions, unlock
from accounts.forms import AdminLoginForm


class ReadOnly:
    """No add, change or delete (ModelAdmin or inline): state changes go through the
    apps' actions, which keep blobs, tombstones and pushes consistent."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoSecondFactor(actions.AccountError):
    code = "second_factor_required"
    status = 403


class SecureChatAdminSite(OTPAdminSite):
    site_header = "SecureChat administration"
    site_title = "SecureChat admin"
    index_title = "Operations"

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        from accounts.views.auth import attempt, safe_next

        index = reverse("admin:index", current_app=self.name)
        target = safe_next(request, default=index)
        if request.method == "GET" and self.has_permission(request):
            return redirect(target)
        form = AdminLoginForm(request.POST or None)
        status = 200
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data

            def run():
                stage = actions.do_login(request, data["email"], data["password"])
                if stage != unlock.STAGE_OTP:
                    actions.do_logout(request)
                    raise NoSecondFactor("The admin requires a second factor. Log in on the "
                                         "site and set up an authenticator app first.")
                return actions.do_login_code(request, data["code"])

            device, status = attempt(form, run)
            if device is not None:
                return redirect(target)
        elif request.method == "POST":
            status = 400
        return render(request, "accounts/auth/admin_login.html", {
            **self.each_context(request), "form": form, "next": target,
            "title": "Log in to the admin", **(extra_context or {}),
        }, status=status)


site = SecureChatAdminSite(name="admin")
