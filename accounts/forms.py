"""Forms of the login pages. They only shape input; the rules live in accounts.actions."""

from django import forms
from django.conf import settings


class SignupForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(
        attrs={"autocomplete": "email", "autofocus": True}))
    password = forms.CharField(
        strip=False, max_length=settings.SECURECHAT_PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "minlength": 12}),
        help_text="At least 12 characters. It also unlocks your keys: nobody can reset it "
                  "for you without losing your history, unless you keep your recovery code.")
    invitation = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)


class LoginForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput(
        attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(strip=False, max_length=settings.SECURECHAT_PASSWORD_MAX_LENGTH,
                               widget=forms.PasswordInput(attrs={"autocomplete":
                                                                 "current-password"}))


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=40, label="Code",
        help_text="The six digits your authenticator app shows, or one of your backup codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True,
                                      "inputmode": "text", "autocapitalize": "off",
                                      "spellcheck": "false"}))


class RecoveryConfirmForm(forms.Form):
    saved = forms.BooleanField(required=True, label="I saved my recovery code somewhere safe")


class StepUpForm(forms.Form):
    """The password again, and a code when the second factor is on."""

    password = forms.CharField(strip=False, label="Current password",
                               max_length=settings.SECURECHAT_PASSWORD_MAX_LENGTH,
                               widget=forms.PasswordInput(attrs={"autocomplete":
                                                                 "current-password"}))
    code = forms.CharField(required=False, max_length=40, label="Code from your app",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                         "autocapitalize": "off"}))

    def __init__(self, *args, code_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].required = code_required
        if not code_required:
            del self.fields["code"]


class AdminLoginForm(forms.Form):
    """The admin's one-page login: password and a second-factor code together."""

    email = forms.CharField(max_length=254, widget=forms.EmailInput(
        attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(strip=False, max_length=settings.SECURECHAT_PASSWORD_MAX_LENGTH,
                               widget=forms.PasswordInput(attrs={"autocomplete":
                                                                 "current-password"}))
    code = forms.CharField(max_length=40, label="Code from your authenticator app",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                         "autocapitalize": "off"}))
