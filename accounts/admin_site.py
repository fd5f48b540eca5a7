"""The project's admin site: django-otp's ``OTPAdminSite`` (DESIGN.md §4, §7).

Only a user verified by a confirmed second-factor device in this session gets
past ``has_permission``; a password never opens ``/admin/`` (the server never
receives one). There is no admin login form: ``/admin/login/`` sends the
visitor to the site's own login (``/login/?next=/admin/``), whose code step
verifies the session's device. A staff account logged in without a confirmed
second factor gets a page that says to set one up first.

Other modules register their ModelAdmins on ``site`` (``accounts.admin_site.site``),
read-only ones with the ``ReadOnly`` mixin.
"""

from urllib.parse import urlencode

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django_otp.admin import OTPAdminSite

from accounts import stages
from accounts.views import LOGIN_PATH


class ReadOnly:
    """No add, change or delete (ModelAdmin or inline): state changes go through the
    apps' actions, which keep blobs, tombstones and pushes consistent."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SecureChatAdminSite(OTPAdminSite):
    site_header = "SecureChat administration"
    site_title = "SecureChat admin"
    index_title = "Operations"

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        """No form: the site's login, then back here; a staff login without a verified
        second factor is told to set one up (403)."""
        from accounts.views.auth import safe_next

        index = reverse("admin:index", current_app=self.name)
        target = safe_next(request, default=index)
        if self.has_permission(request):
            return redirect(target)
        user = request.user
        if user.is_authenticated and user.is_active and stages.login_complete(request.session):
            # Logged in, yet not let in: sending them to the login again would loop.
            title = ("Set up two-factor to use the admin" if user.is_staff
                     else "This account is not an administrator")
            return render(request, "accounts/admin_refused.html", {
                **self.each_context(request), "title": title, "staff": user.is_staff,
                "profile_url": "/me/", **(extra_context or {})}, status=403)
        return redirect(f"{LOGIN_PATH}?{urlencode({'next': target})}")


site = SecureChatAdminSite(name="admin")
