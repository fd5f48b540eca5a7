"""Commands that replace Django's own (listed before ``django.contrib.auth`` in
INSTALLED_APPS, since the first app with a command of that name wins)."""
