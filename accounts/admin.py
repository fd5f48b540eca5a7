"""The operator's view of accounts, on the OTP admin site (DESIGN.md §4, §7).

Metadata only: email, the directory fingerprint (labelled as not verified: the
rows could have been edited), second-factor status, last login, active. No
field shows key material (no blobs, no recipient strings beyond the
fingerprint), the password hash or any content. The email address is read
only (administrators cannot change it). There is no "add user" (people sign up
or are invited) and no delete (a user deletes their own account; the operator
deactivates). State changes go through ``accounts.actions``: deactivate (ends
sessions, closes sockets), reset second-factor devices, end sessions.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, Prefetch
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import actions
from accounts.admin_site import ReadOnly, site
from accounts.models import AuditEvent, Invitation, KeyGeneration, LoginSession, User

FINGERPRINT_LABEL = "directory fingerprint (not verified)"


@admin.register(User, site=site)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "directory_fingerprint", "second_factor", "last_login",
                    "is_active", "is_staff")
    list_filter = ("is_active", "is_staff")
    search_fields = ("email",)
    ordering = ("email",)
    fields = ("email", "email_verified_at", "pending_email", "directory_fingerprint",
              "second_factor", "is_active", "is_staff", "is_superuser", "admin_on_2fa", "groups",
              "user_permissions", "date_joined", "last_login")
    readonly_fields = ("email", "email_verified_at", "pending_email", "directory_fingerprint",
                       "second_factor", "is_active", "admin_on_2fa", "date_joined",
                       "last_login")
    filter_horizontal = ("groups", "user_permissions")
    actions = ("deactivate", "reset_second_factor", "end_sessions")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(
            Prefetch("key_generations", queryset=KeyGeneration.objects.current(),
                     to_attr="current_keys"),
        ).annotate(has_totp=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"),
                                                             confirmed=True)))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=FINGERPRINT_LABEL)
    def directory_fingerprint(self, obj):
        current = getattr(obj, "current_keys", None)
        if current is None:
            current = list(KeyGeneration.objects.current().filter(user=obj))
        return current[0].directory_fingerprint if current else "no keys"

    @admin.display(description="2FA", boolean=True)
    def second_factor(self, obj):
        if hasattr(obj, "has_totp"):
            return obj.has_totp
        return TOTPDevice.objects.filter(user=obj, confirmed=True).exists()

    def _each(self, request, queryset, run, done: str):
        count = 0
        for user in queryset:
            if user.pk == request.user.pk:
                self.message_user(request, "You cannot do that to your own account here.",
                                  messages.WARNING)
                continue
            try:
                run(user)
            except actions.AccountError as exc:  # the action's check refused (nothing changed)
                self.message_user(request, str(exc), messages.WARNING)
                continue
            count += 1
        self.message_user(request, f"{done}: {count} account(s).", messages.SUCCESS)

    @admin.action(description="Deactivate (ends their sessions)")
    def deactivate(self, request, queryset):
        self._each(request, queryset.filter(is_active=True),
                   lambda user: actions.do_deactivate_user(user, actor=request.user),
                   "Deactivated")

    @admin.action(description="Reset second factor (they set it up again)")
    def reset_second_factor(self, request, queryset):
        self._each(request, queryset,
                   lambda user: actions.do_reset_devices(user, actor=request.user),
                   "Second factor reset")

    @admin.action(description="End all their sessions")
    def end_sessions(self, request, queryset):
        self._each(request, queryset,
                   lambda user: actions.do_end_sessions_by_admin(user, actor=request.user),
                   "Sessions ended")


@admin.register(Invitation, site=site)
class InvitationAdmin(ReadOnly, admin.ModelAdmin):
    """Invitations, read only (no token: only its hash is stored, and not shown); the one
    change is revoking pending ones (``accounts.actions.do_revoke_invitation``)."""

    list_display = ("id", "email", "staff", "state", "created_by", "created_at", "expires_at",
                    "used_at", "revoked_at")
    list_filter = ("staff",)
    search_fields = ("email",)
    fields = ("email", "staff", "state", "created_by", "created_at", "expires_at", "used_at",
              "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)

    @admin.display(description="state")
    def state(self, obj):
        return obj.state

    @admin.action(description="Revoke (the link stops working)")
    def revoke(self, request, queryset):
        count = 0
        for invitation in queryset:
            try:
                actions.do_revoke_invitation(invitation.pk, actor=request.user)
            except actions.AccountError as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            count += 1
        self.message_user(request, f"Revoked: {count} invitation(s).", messages.SUCCESS)


@admin.register(AuditEvent, site=site)
class AuditEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("kind", "user", "actor", "created_at", "ip_address")
    list_filter = ("kind",)
    search_fields = ("user__email",)
    fields = ("kind", "user", "actor", "created_at", "ip_address")
    date_hierarchy = "created_at"


@admin.register(LoginSession, site=site)
class LoginSessionAdmin(ReadOnly, admin.ModelAdmin):
    """Logins without their session keys (a key is as good as the cookie)."""

    list_display = ("user", "device_label", "ip_address", "created_at", "last_seen_at",
                    "ended_at")
    list_filter = ("ended_at",)
    search_fields = ("user__email",)
    fields = ("user", "device_label", "user_agent", "ip_address", "created_at",
              "last_seen_at", "ended_at")
    readonly_fields = fields

    @admin.display(description="device")
    def device_label(self, obj):
        return obj.device_label
