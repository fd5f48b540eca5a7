"""Origins are compared by scheme, host and port, against SECURECHAT_ORIGINS."""

import pytest
from django.test import override_settings

from accounts.origins import normalize_origin, origin_allowed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://chat.example.com", True),
        ("https://CHAT.example.com", True),
        ("https://chat.example.com:443", True),
        ("http://chat.example.com", False),
        ("https://chat.example.com:8443", False),
        ("https://evil.example", False),
        ("https://chat.example.com.evil.example", False),
        ("https://user@chat.example.com", False),
        ("https://chat.example.com/path", False),
        ("null", False),
        ("", False),
        (None, False),
        ("https://chat.example.com:99999", False),
    ],
)
def test_origin_allowed(origin, allowed):
    """Only an exact scheme/host/port match (default ports made explicit) is allowed."""
    with override_settings(SECURECHAT_ORIGINS=["https://chat.example.com"]):
        assert origin_allowed(origin) is allowed


def test_normalize_origin_makes_default_ports_explicit():
    assert normalize_origin("http://a.example") == ("http", "a.example", 80)
    assert normalize_origin("https://a.example:444") == ("https", "a.example", 444)
    assert normalize_origin("ftp://a.example") is None
