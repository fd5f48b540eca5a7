"""The ``securechat`` app: the project's own system checks (securechat/checks.py) and the
database connection metrics (securechat/dbmetrics.py)."""

from django.apps import AppConfig


class SecureChatConfig(AppConfig):
    name = "securechat"
    verbose_name = "SecureChat"

    def ready(self):
        from securechat import checks, dbmetrics

        checks.register()
        dbmetrics.register()
