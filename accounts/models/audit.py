"""Security events, for the user's own history and the operator's audit log.

Rows carry the kind of event, who and when, and the client address; never a
password, code, key, token, message or file name.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    KINDS = [
        ("signup", "Signed up"),
        ("email_verified", "Verified email"),
        ("login", "Logged in"),
        ("login_failed", "Failed login"),
        ("otp_failed", "Failed second-factor code"),
        ("logout", "Logged out"),
        ("password_changed", "Changed password"),
        ("password_reset", "Reset password"),
        ("keys_reset", "Reset keys (old content unreadable)"),
        ("keys_rotated", "Renewed keys"),
        ("work_factor_raised", "Password hashing strengthened"),
        ("reset_held", "Asked for a reset without the recovery code (held)"),
        ("reset_cancelled", "Cancelled a held reset"),
        ("recovery_code_used", "Used recovery code"),
        ("recovery_code_confirmed", "Confirmed recovery code saved"),
        ("totp_enabled", "Enabled authenticator app"),
        ("totp_disabled", "Removed authenticator app"),
        ("backup_codes_generated", "Generated backup codes"),
        ("devices_reset", "Second factor reset by an administrator"),
        ("identity_exported", "Exported keys"),
        ("email_change_requested", "Asked to change email"),
        ("email_changed", "Changed email"),
        ("session_revoked", "Ended a session"),
        ("session_expired", "Session expired (idle, lifetime or unfinished login)"),
        ("sessions_ended_by_admin", "Sessions ended by an administrator"),
        ("deactivated", "Deactivated by an administrator"),
        ("account_deleted", "Deleted account"),
        ("invited", "Invited"),
        ("admin_invited", "Invited as administrator"),
        ("invitation_revoked", "Invitation revoked"),
        ("promoted", "Made administrator"),
        ("demoted", "No longer administrator"),
        ("reactivated", "Reactivated by an administrator"),
        ("unverified_released", "Unverified registration released"),
        ("registration_claimed", "Unverified registration taken over by the address's owner"),
    ]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="+")
    kind = models.CharField(max_length=40, choices=KINDS)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"
