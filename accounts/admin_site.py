"""The project's admin site: django-otp's ``OTPAdminSite`` (DESIGN.md §4, §7).

Only a user verified by a confirmed second-factor device in this session gets
past ``has_permission``; a password alone never opens ``/admin/``. Other
modules register their ModelAdmins on ``site`` (``accounts.admin_site.site``).
"""

from django_otp.admin import OTPAdminSite


class SecureChatAdminSite(OTPAdminSite):
    site_header = "SecureChat administration"
    site_title = "SecureChat admin"
    index_title = "Operations"


site = SecureChatAdminSite(name="admin")
