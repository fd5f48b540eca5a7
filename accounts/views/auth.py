"""Pages of the login flow: signup, recovery code, email verification, login, code step,
authenticator setup with backup codes, logout. Plain forms that work without JavaScript;
every state change goes through ``accounts.actions``.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import actions, otp, unlock
from accounts.api.totp import SESSION_PENDING_TOTP, confirm_enrolment, start_enrolment
from accounts.errors import ApiError
from accounts.forms import CodeForm, LoginForm, RecoveryConfirmForm, SignupForm, StepUpForm
from accounts.stepup import require_step_up
from accounts.throttle import RateLimited


def safe_next(request, default: str = "/") -> str:
    """``?next=`` only when it is a same-site relative path; anything else is ignored."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure())):
        return target
    return default


def with_next(name: str, target: str) -> str:
    from urllib.parse import urlencode

    url = reverse(name)
    return f"{url}?{urlencode({'next': target})}" if target != "/" else url


def attempt(form, action) -> tuple[object, int]:
    """Run ``action``; an ``ApiError`` becomes a form error on its field. (result, status)."""
    try:
        return action(), 200
    except ApiError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        return None, exc.status


def after_login(stage: str, target: str):
    if stage == unlock.STAGE_OTP:
        return redirect(with_next("login-code", target))
    if stage == unlock.STAGE_ENROL:
        return redirect(with_next("totp-setup", target))
    if stage == unlock.STAGE_VERIFY:
        return redirect("verify-email-pending")
    return redirect(target)


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    form = SignupForm(request.POST or None,
                      initial={"invitation": request.GET.get("invitation", ""),
                               "email": request.GET.get("email", "")})
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        result, status = attempt(form, lambda: actions.do_register(
            request, data["email"], data["password"], invitation_token=data["invitation"]))
        if result is not None and result[0].claim_pending:
            return render(request, "accounts/auth/signup_claim.html",
                          {"recovery_code": result[0].recovery_code})
        if result is not None:
            return redirect("recovery-code")
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/auth/signup.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def recovery_code(request):
    if not request.user.is_authenticated:
        return redirect("login")
    code = unlock.pending_recovery_code(request)
    next_step = {unlock.STAGE_ENROL: "totp-setup", unlock.STAGE_VERIFY: "verify-email-pending"
                 }.get(unlock.auth_stage(request.session))
    if code is None:
        return redirect(next_step or "home")
    form = RecoveryConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.do_confirm_recovery_code(request)
        if next_step:
            return redirect(next_step)
        messages.success(request, "Welcome. Check your inbox to confirm your email address.")
        return redirect("home")
    return render(request, "accounts/auth/recovery_code.html",
                  {"form": form, "recovery_code": code},
                  status=400 if request.method == "POST" else 200)


@never_cache
@require_http_methods(["GET", "POST"])
def verify_email(request, token):
    """The emailed link: GET shows a confirm button (and changes nothing), POST verifies.

    Mail scanners and link previews open links with GET; only a person pressing
    the button (a POST with the CSRF token) verifies the address (issue 17, M3).
    """
    action = actions.do_verify_email if request.method == "POST" else actions.check_verify_email
    try:
        action(token)
    except actions.AccountError as exc:
        return render(request, "accounts/auth/verify_email.html",
                      {"ok": False, "detail": str(exc)}, status=400)
    return render(request, "accounts/auth/verify_email.html",
                  {"ok": request.method == "POST", "confirm": request.method == "GET"})


@never_cache
@require_http_methods(["GET"])
def verify_email_pending(request):
    """Mandatory 2FA, address not verified yet: "check your inbox", resend, log out."""
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.email_verified:
        return redirect("totp-setup" if unlock.auth_stage(request.session) != unlock.STAGE_DONE
                        else "home")
    return render(request, "accounts/auth/verify_email_pending.html",
                  {"email": request.user.email})


@never_cache
@require_http_methods(["GET", "POST"])
def claim_registration(request, token):
    """A claim's emailed link: GET shows the confirm button (changes nothing), POST claims."""
    try:
        if request.method == "POST":
            actions.do_claim_registration(token)
        else:
            actions.check_claim(token)
    except actions.AccountError as exc:
        return render(request, "accounts/auth/claim.html", {"detail": str(exc)}, status=400)
    return render(request, "accounts/auth/claim.html", {"done": request.method == "POST"})


@require_POST
def verify_email_resend(request):
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.email_verified:
        messages.info(request, "Your email address is already verified.")
    else:
        try:
            actions.rate_limit("verify_email_account", request.user.pk)
        except RateLimited:
            messages.error(request, "A link was sent a moment ago; check your inbox first.")
        else:
            actions.do_send_email_verification(request.user)
            messages.success(request, "A new verification link is on its way.")
    return redirect(safe_next(request))


@never_cache
@require_http_methods(["GET", "POST"])
def login(request):
    target = safe_next(request)
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        stage, status = attempt(form, lambda: actions.do_login(request, data["email"],
                                                               data["password"]))
        if stage is not None:
            return after_login(stage, target)
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/auth/login.html", {"form": form, "next": target},
                  status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request):
    target = safe_next(request)
    if not request.user.is_authenticated:
        return redirect(with_next("login", target))
    if unlock.auth_stage(request.session) != unlock.STAGE_OTP:
        return redirect(target)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        device, status = attempt(form, lambda: actions.do_login_code(request,
                                                                     form.cleaned_data["code"]))
        if device is not None:
            return redirect(target)
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/auth/login_code.html", {"form": form, "next": target},
                  status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def logout(request):
    if request.method == "POST":
        actions.do_logout(request)
        messages.info(request, "You are logged out.")
        return redirect("login")
    return render(request, "accounts/auth/logout.html")


@never_cache
@require_http_methods(["GET", "POST"])
def totp_setup(request):
    """Status of the second factor; start (step-up), confirm, remove."""
    if not request.user.is_authenticated:
        return redirect(with_next("login", request.path))
    enrolling = unlock.auth_stage(request.session) == unlock.STAGE_ENROL
    enabled = otp.confirmed_totp(request.user) is not None
    code_required = otp.has_second_factor(request.user)
    step_form = StepUpForm(code_required=code_required)
    confirm_form = CodeForm()
    remove_form = StepUpForm(code_required=code_required)
    action = request.POST.get("action")
    status = 200
    pending = None

    if request.method == "GET":
        pending = _pending_setup(request)
    elif request.method == "POST" and action == "start":
        step_form = StepUpForm(request.POST, code_required=code_required and not enrolling)
        if enrolling or step_form.is_valid():
            data = step_form.cleaned_data if not enrolling else {}
            pending, status = attempt(step_form, lambda: start_enrolment(
                request, data.get("password"), data.get("code")))
        else:
            status = 400
    elif request.method == "POST" and action == "confirm":
        confirm_form = CodeForm(request.POST)
        if confirm_form.is_valid():
            codes, status = attempt(confirm_form, lambda: confirm_enrolment(
                request, confirm_form.cleaned_data["code"]))
            if codes is not None:
                return render(request, "accounts/auth/backup_codes.html",
                              {"codes": codes, "next": safe_next(request)})
        else:
            status = 400
        pending = _pending_setup(request)
    elif request.method == "POST" and action == "remove":
        remove_form = StepUpForm(request.POST, code_required=code_required)
        if remove_form.is_valid():
            data = remove_form.cleaned_data
            done, status = attempt(remove_form, lambda: _remove(request, data))
            if done:
                messages.success(request, "The second factor was removed.")
                return redirect("totp-setup")
        else:
            status = 400
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/auth/totp_setup.html", {
        "enrolling": enrolling, "enabled": enabled, "pending": pending,
        "step_form": step_form, "confirm_form": confirm_form, "remove_form": remove_form,
        "backup_remaining": (otp.backup_device(request.user).remaining()
                             if otp.backup_device(request.user) else 0),
        "next": safe_next(request),
    }, status=status)


def _pending_setup(request):
    from accounts.models import ForgivingTOTPDevice

    pk = request.session.get(SESSION_PENDING_TOTP)
    device = ForgivingTOTPDevice.objects.filter(user=request.user, pk=pk, confirmed=False).first()
    if device is None:
        return None
    uri = device.config_url
    return {"secret": otp.base32_secret(device), "otpauth_uri": uri, "qr_svg": otp.qr_svg(uri)}


def _remove(request, data) -> bool:
    require_step_up(request, data.get("password"), data.get("code"))
    actions.do_remove_totp(request.user, request=request)
    return True


@never_cache
@require_http_methods(["GET", "POST"])
def backup_codes(request):
    """Regenerate the backup codes (step-up); the new set is shown once."""
    if not request.user.is_authenticated:
        return redirect(with_next("login", request.path))
    if not otp.has_second_factor(request.user):
        return redirect("totp-setup")
    form = StepUpForm(request.POST or None, code_required=True)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def regenerate():
            require_step_up(request, data["password"], data["code"])
            return actions.do_regenerate_backup_codes(request.user, request=request)

        codes, status = attempt(form, regenerate)
        if codes is not None:
            return render(request, "accounts/auth/backup_codes.html",
                          {"codes": codes, "next": "/"})
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/auth/backup_codes_regenerate.html", {"form": form},
                  status=status)
