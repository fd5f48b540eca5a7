"""Settings of the positive-control server in test_no_plaintext_on_disk: the test settings
with a URLconf that adds a plain Django upload view (``request.FILES``)."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.filestore.spool_urls"
# The body-size guard (securechat.body_limits) would refuse the 6 MiB body before Django
# spools it; this control route is what it must reach.
SECURECHAT_BODY_LIMITS = {**SECURECHAT_BODY_LIMITS,  # noqa: F405
                          r"^/test/plain-django-upload$": 64 * 1024 * 1024}
