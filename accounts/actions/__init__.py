"""Every state change of accounts, one function each (views, API, commands call these).

Functions raise ``AccountError`` subclasses with a message meant for the user;
callers map them to a 4xx response or a form error. Nothing is changed when
one is raised. The modules group the actions by concern; everything public is
re-exported here, so callers import from ``accounts.actions``.
"""

from accounts.actions.admin import (  # noqa: F401
    NoSuchAccount,
    check_deactivate,
    check_demote,
    check_end_sessions,
    check_promote,
    check_reactivate,
    check_reset_devices,
    check_revoke_invitation,
    do_deactivate_user,
    do_demote,
    do_end_sessions_by_admin,
    do_promote,
    do_reactivate_user,
    do_reset_devices,
    do_revoke_invitation,
    find_user,
    grant_admin_on_2fa,
    is_admin,
)
from accounts.actions.base import (  # noqa: F401
    DEFAULT_RATE_LIMITS,
    AccountError,
    EmailTaken,
    EmailUnverified,
    InvalidCredentials,
    InvalidLink,
    InvalidToken,
    RegistrationClosed,
    WrongStep,
    audit,
    client_ip,
    normalize_email,
    rate_limit,
    request_ip,
)
from accounts.actions.emailchange import (  # noqa: F401
    EMAIL_CHANGE_HOURS,
    EMAIL_CHANGE_SALT,
    check_email_change,
    do_confirm_email_change,
    do_request_email_change,
    email_change_token,
    validate_new_email,
)
from accounts.actions.invitations import (  # noqa: F401
    check_invite_contact,
    do_invite_contact,
)
from accounts.actions.lifecycle import (  # noqa: F401
    do_delete_account,
    do_delete_own_account,
    do_request_password_reset,
    reset_link_hours,
    user_for_reset_link,
)
from accounts.actions.login import (  # noqa: F401
    MODEL_BACKEND,
    do_finish_enrolment,
    do_login_code,
    do_logout,
)
from accounts.actions.profile import (  # noqa: F401
    DISPLAY_NAME_MAX,
    InvalidDisplayName,
    check_display_name,
    do_set_display_name,
)
from accounts.actions.sessions import (  # noqa: F401
    access_login_session,
    active_login_sessions,
    check_login_current,
    do_expire_login,
    do_revoke_other_sessions,
    do_revoke_session,
    end_login_sessions,
    end_login_sessions_by_key,
)
from accounts.actions.signup import (  # noqa: F401
    INVITATION_DAYS_DEFAULT,
    INVITATION_DAYS_MAX,
    check_invite,
    create_invitation,
    do_invite,
    invitation_link,
    usable_invitation,
)
from accounts.actions.squatting import (  # noqa: F401
    check_claim,
    do_claim_registration,
    do_release_unverified,
    release_if_stale,
    stale_unverified,
)
from accounts.actions.twofactor import (  # noqa: F401
    do_begin_totp_enrolment,
    do_confirm_totp,
    do_confirm_totp_enrolment,
    do_regenerate_backup_codes,
    do_remove_totp,
    do_reseal_totp_keys,
    do_start_totp,
)
from accounts.actions.verification import (  # noqa: F401
    EMAIL_TOKEN_MAX_AGE,
    EMAIL_TOKEN_SALT,
    check_verify_email,
    do_resend_email_verification,
    do_send_email_verification,
    do_verify_email,
    email_verification_token,
)
