"""Pages of one's own account: profile, password, export, email, deletion, sessions,
and the password reset by emailed link. Plain forms that work without JavaScript;
every state change goes through ``accounts.actions``, every security change through
``accounts.stepup`` first.

Links from emails carry a token in their path. The page that receives one keeps
the token in the session and redirects to a URL without it, so it does not leak
through the Referer header or the browser history; it changes nothing on GET
(mail scanners open links).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import actions, otp, unlock
from accounts.api.me import EXPORT_FILENAME
from accounts.forms import StepUpForm
from accounts.models import KeyGeneration, LoginSession
from accounts.stepup import require_step_up
from accounts.views import full_login_required
from accounts.views.auth import attempt

SESSION_RESET_TOKEN = "_securechat_reset_token"  # noqa: S105 - a session key name
SESSION_EMAIL_TOKEN = "_securechat_email_change_token"  # noqa: S105 - a session key name

PASSWORD_MAX = settings.SECURECHAT_PASSWORD_MAX_LENGTH


def new_password_fields(form: forms.Form) -> None:
    form.fields["new_password"] = forms.CharField(
        strip=False, max_length=PASSWORD_MAX, label="New password",
        help_text="At least 12 characters.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "minlength": 12}))
    form.fields["new_password2"] = forms.CharField(
        strip=False, max_length=PASSWORD_MAX, label="New password again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))


def check_repeat(form: forms.Form) -> bool:
    if form.cleaned_data.get("new_password") != form.cleaned_data.get("new_password2"):
        form.add_error("new_password2", "The two new passwords differ.")
        return False
    return True


class PasswordChangeForm(StepUpForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        new_password_fields(self)


class EmailChangeForm(StepUpForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_email"] = forms.EmailField(
            max_length=254, label="New email address",
            widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class DeleteForm(StepUpForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sure"] = forms.BooleanField(
            label="I understand that my messages, files and keys are gone for good")


class ResetRequestForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(
        attrs={"autocomplete": "email", "autofocus": True}))


class ResetConfirmForm(forms.Form):
    recovery_code = forms.CharField(
        required=False, max_length=100, label="Recovery code (keeps your history)",
        help_text="The code you saved at signup. Without it you get new keys and cannot "
                  "read older messages and files any more.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters",
                                      "spellcheck": "false"}))

    def __init__(self, *args, code_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        new_password_fields(self)
        if code_required:
            self.fields["code"] = forms.CharField(
                max_length=40, label="Code from your authenticator app (or a backup code)",
                widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                              "autocapitalize": "off"}))




def post_or_none(request):
    return request.POST if request.method == "POST" else None


# --- Profile --------------------------------------------------------------------------

@never_cache
@require_GET
@full_login_required
def profile(request):
    identity_file = unlock.unlocked_identity(request)
    current = KeyGeneration.objects.current().filter(user=request.user).first()
    return render(request, "accounts/me/profile.html", {
        "fingerprint_groups": identity_file.fingerprint().split(" "),
        "otp_enabled": otp.has_second_factor(request.user),
        "key_generation": current,
        "recovery_code_pending": unlock.pending_recovery_code(request) is not None,
    })


@never_cache
@require_http_methods(["GET", "POST"])
@full_login_required
def password_change(request):
    form = PasswordChangeForm(post_or_none(request),
                              code_required=otp.has_second_factor(request.user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid() and check_repeat(form):
            data = form.cleaned_data
            identity_file = unlock.unlocked_identity(request)
            old_key = request.session.session_key

            def change():
                actions.check_password_shape(data["new_password"], request.user)
                require_step_up(request, data["password"], data.get("code"))
                actions.do_change_password(request.user, identity_file, data["new_password"],
                                           keep_session_key=old_key, request=request)
                return True

            done, status = attempt(form, change)
            if done:
                update_session_auth_hash(request, request.user)
                actions.rekey_login_session(old_key, request.session.session_key)
                messages.success(request, "Your password is changed. Your other sessions "
                                          "were logged out.")
                return redirect("me")
    return render(request, "accounts/me/password.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@full_login_required
def export(request):
    form = StepUpForm(post_or_none(request), code_required=otp.has_second_factor(request.user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data

            def run():
                require_step_up(request, data["password"], data.get("code"))
                return actions.do_export_identity(request.user, request=request)

            blob, status = attempt(form, run)
            if blob is not None:
                response = HttpResponse(blob, content_type="application/octet-stream")
                response["Content-Disposition"] = f'attachment; filename="{EXPORT_FILENAME}"'
                return response
    return render(request, "accounts/me/export.html", {"form": form}, status=status)


# --- Email change ------------------------------------------------------------------------

@never_cache
@require_http_methods(["GET", "POST"])
@full_login_required
def email_change(request):
    form = EmailChangeForm(post_or_none(request),
                           code_required=otp.has_second_factor(request.user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data

            def run():
                actions.validate_new_email(request.user, data["new_email"])
                require_step_up(request, data["password"], data.get("code"))
                return actions.do_request_email_change(request.user, data["new_email"],
                                                       request=request)

            pending, status = attempt(form, run)
            if pending is not None:
                messages.success(request, f"We sent a link to {pending}. Your address "
                                          "changes once you open it.")
                return redirect("me")
    return render(request, "accounts/me/email.html", {"form": form}, status=status)


@never_cache
@require_GET
def email_confirm_link(request, token):
    request.session[SESSION_EMAIL_TOKEN] = token[:1000]
    return redirect("me-email-confirm")


@never_cache
@require_http_methods(["GET", "POST"])
def email_confirm(request):
    token = request.session.get(SESSION_EMAIL_TOKEN)
    context = {"has_token": bool(token)}
    if request.method == "POST" and token:
        try:
            user = actions.do_confirm_email_change(token, request=request)
        except actions.AccountError as exc:
            request.session.pop(SESSION_EMAIL_TOKEN, None)
            return render(request, "accounts/me/email_confirm.html",
                          {**context, "error": str(exc)}, status=exc.status)
        request.session.pop(SESSION_EMAIL_TOKEN, None)
        return render(request, "accounts/me/email_confirm.html", {"done": True,
                                                                  "email": user.email})
    return render(request, "accounts/me/email_confirm.html", context,
                  status=200 if token or request.method == "GET" else 400)


# --- Deletion ----------------------------------------------------------------------------

@never_cache
@require_http_methods(["GET", "POST"])
@full_login_required
def delete(request):
    form = DeleteForm(post_or_none(request), code_required=otp.has_second_factor(request.user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            user = request.user

            def run():
                require_step_up(request, data["password"], data.get("code"))
                actions.do_delete_account(user, request=request)
                return True

            done, status = attempt(form, run)
            if done:
                unlock.forget_everything(request)
                request.session.flush()
                return render(request, "accounts/me/deleted.html")
    return render(request, "accounts/me/delete.html", {"form": form}, status=status)


# --- Sessions ----------------------------------------------------------------------------

@never_cache
@require_GET
@full_login_required
def sessions(request):
    current_key = request.session.session_key
    logins = [(login, login.session_key == current_key)
              for login in LoginSession.objects.active().filter(user=request.user)]
    return render(request, "accounts/me/sessions.html", {"logins": logins})


@require_POST
@full_login_required
def session_revoke(request, session_id: int):
    login = actions.access_login_session(request.user, session_id)
    current = login.session_key == request.session.session_key
    actions.do_revoke_session(request.user, login, request=request)
    if current:
        unlock.forget_everything(request)
        request.session.flush()
        return redirect("login")
    messages.success(request, f"The session on {login.device_label} is logged out.")
    return redirect("me-sessions")


@require_POST
@full_login_required
def sessions_revoke_others(request):
    ended = actions.do_revoke_other_sessions(request.user, request.session.session_key,
                                             request=request)
    messages.success(request, f"{ended} other session{'s' if ended != 1 else ''} logged out.")
    return redirect("me-sessions")


# --- Password reset by emailed link --------------------------------------------------------

@never_cache
@require_http_methods(["GET", "POST"])
def reset_request(request):
    form = ResetRequestForm(post_or_none(request))
    if request.method == "POST":
        if form.is_valid():
            def run():
                actions.rate_limit("reset_address", actions.client_ip(request))
                actions.do_request_password_reset(form.cleaned_data["email"], request=request)
                return True

            done, status = attempt(form, run)
            if done:
                return render(request, "accounts/me/reset_sent.html",
                              {"valid_hours": actions.reset_link_hours()})
            return render(request, "accounts/me/reset_request.html", {"form": form},
                          status=status)
        return render(request, "accounts/me/reset_request.html", {"form": form}, status=400)
    return render(request, "accounts/me/reset_request.html", {"form": form})


@never_cache
@require_GET
def reset_link(request, uidb64, token):
    request.session[SESSION_RESET_TOKEN] = token[:100]
    return redirect("password-reset-confirm", uidb64=uidb64)


@never_cache
@require_http_methods(["GET", "POST"])
def reset_confirm(request, uidb64):
    token = request.session.get(SESSION_RESET_TOKEN, "")
    try:
        user = actions.user_for_reset_link(uidb64, token)
    except actions.InvalidLink as exc:
        return render(request, "accounts/me/reset_confirm.html", {"invalid": str(exc)},
                      status=400)
    form = ResetConfirmForm(post_or_none(request), code_required=otp.has_second_factor(user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid() and check_repeat(form):
            data = form.cleaned_data

            def run():
                actions.rate_limit("reset_address", actions.client_ip(request))
                return actions.do_reset_password(
                    uidb64, token, data["new_password"],
                    recovery_code=data["recovery_code"] or None, code=data.get("code"),
                    request=request)

            result, status = attempt(form, run)
            if result is not None:
                # Every session of the account ended; this one starts afresh too.
                unlock.forget_everything(request)
                request.session.flush()
                return render(request, "accounts/me/reset_done.html", {
                    "keys_kept": result.keys_kept, "recovery_code": result.recovery_code})
    return render(request, "accounts/me/reset_confirm.html", {"form": form}, status=status)
