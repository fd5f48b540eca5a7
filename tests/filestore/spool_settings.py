"""Settings of the positive-control server in test_no_plaintext_on_disk: the test settings
with a URLconf that adds a plain Django upload view (``request.FILES``)."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.filestore.spool_urls"
