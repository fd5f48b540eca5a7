"""URLs of the login flow: JSON endpoints under /api/v1/ and the pages that need no keys.

The names in ``accounts.middleware.HALF_LOGGED_IN_ALLOWED`` and
``ENROLMENT_ALLOWED`` refer to these.
"""

from django.urls import path

from accounts.api import auth as api_auth
from accounts.api import totp as api_totp
from accounts.views import auth as views

urlpatterns = [
    path("api/v1/csrf", api_auth.csrf, name="api-csrf"),
    path("api/v1/auth/prelogin", api_auth.prelogin, name="api-auth-prelogin"),
    path("api/v1/auth/signup", api_auth.signup, name="api-auth-signup"),
    path("api/v1/auth/login", api_auth.login, name="api-auth-login"),
    path("api/v1/auth/otp", api_auth.otp, name="api-auth-otp"),
    path("api/v1/auth/logout", api_auth.logout, name="api-auth-logout"),
    path("api/v1/auth/recovery-code/confirm", api_auth.recovery_confirm,
         name="api-recovery-confirm"),
    path("api/v1/auth/verify-email", api_auth.verify_email, name="api-verify-email"),
    path("api/v1/auth/verify-email/resend", api_auth.verify_email_resend,
         name="api-verify-email-resend"),
    path("api/v1/me/totp", api_totp.totp, name="api-me-totp"),
    path("api/v1/me/totp/confirm", api_totp.totp_confirm, name="api-me-totp-confirm"),
    path("api/v1/me/backup-codes", api_totp.backup_codes, name="api-me-backup-codes"),

    # Pages that need no keys (the shell serves signup, login and the rest)
    path("verify-email/resend/", views.verify_email_resend, name="verify-email-resend"),
    path("verify-email/pending/", views.verify_email_pending, name="verify-email-pending"),
    path("verify-email/claim/<str:token>", views.claim_registration, name="claim-registration"),
    path("verify-email/<str:token>", views.verify_email, name="verify-email"),
    path("logout/", views.logout, name="logout"),
]
