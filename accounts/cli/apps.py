from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "accounts.cli"
    label = "accounts_cli"
    verbose_name = "SecureChat command overrides"
