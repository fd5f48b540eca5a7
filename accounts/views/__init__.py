"""Server-rendered pages of accounts: the few that need no keys (emailed links, logout).

Everything else is the browser shell (accounts.views.v2, served on the paths of
accounts/urls_v2.py); pages link to its paths as plain strings.
"""

SHELL_PATH = "/"
LOGIN_PATH = "/login/"
