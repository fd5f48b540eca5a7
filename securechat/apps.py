"""The ``securechat`` app: the project's own system checks (securechat/checks.py)."""

from django.apps import AppConfig


class SecureChatConfig(AppConfig):
    name = "securechat"
    verbose_name = "SecureChat"

    def ready(self):
        from securechat import checks

        checks.register()
