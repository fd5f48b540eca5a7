"""URLs of one's own account and the password reset (included by accounts/urls.py)."""

from django.urls import path

from accounts.api import clientchanges as api_changes
from accounts.api import me as api_me
from accounts.api import sessions as api_sessions
from accounts.views import me as views

urlpatterns = [
    # JSON API (docs/api.md)
    path("api/v1/me", api_me.me, name="api-me"),
    path("api/v1/me/v2/password", api_changes.change_password, name="api-me-v2-password"),
    path("api/v1/me/v2/rotate-keys", api_changes.rotate_keys, name="api-me-v2-rotate-keys"),
    path("api/v1/me/v2/work-factor", api_changes.upgrade_work_factor,
         name="api-me-v2-work-factor"),
    path("api/v1/me/v2/exported", api_changes.note_export, name="api-me-v2-exported"),
    path("api/v1/auth/v2/reset/recovery", api_changes.reset_recovery,
         name="api-auth-v2-reset-recovery"),
    path("api/v1/auth/v2/reset/confirm", api_changes.reset_confirm,
         name="api-auth-v2-reset-confirm"),
    path("api/v1/auth/v2/reset/hold", api_changes.reset_hold, name="api-auth-v2-reset-hold"),
    path("api/v1/auth/v2/reset/cancel", api_changes.reset_cancel,
         name="api-auth-v2-reset-cancel"),
    path("api/v1/me/v2/reset", api_changes.pending_reset, name="api-me-v2-reset"),
    path("api/v1/me/wrapped-identity", api_me.wrapped_identity, name="api-me-wrapped-identity"),
    path("api/v1/me/device-key", api_me.device_key, name="api-me-device-key"),
    path("api/v1/me/pins", api_me.pins, name="api-me-pins"),
    path("api/v1/directory", api_me.directory_entry, name="api-directory"),
    path("api/v1/me/display-name", api_me.display_name, name="api-me-display-name"),
    path("api/v1/invitations", api_me.invite, name="api-invitations"),
    path("api/v1/me/email", api_me.change_email, name="api-me-email"),
    path("api/v1/me/email/confirm", api_me.confirm_email, name="api-me-email-confirm"),
    path("api/v1/me/delete", api_me.delete_account, name="api-me-delete"),
    path("api/v1/me/sessions", api_sessions.sessions, name="api-me-sessions"),
    path("api/v1/me/sessions/revoke-others", api_sessions.revoke_others,
         name="api-me-sessions-revoke-others"),
    path("api/v1/me/sessions/<int:session_id>", api_sessions.session_detail,
         name="api-me-session"),
    path("api/v1/auth/password-reset", api_me.password_reset, name="api-auth-password-reset"),
    # The page of the link sent to a new address (the shell serves /me/ and the reset)
    path("me/email/confirm/", views.email_confirm, name="me-email-confirm"),
    path("me/email/confirm/<str:token>/", views.email_confirm_link, name="me-email-confirm-link"),
]
