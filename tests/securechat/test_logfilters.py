"""Tokens in emailed-link paths and query strings never reach a log line."""

import logging

from securechat.logfilters import RedactTokensFilter, install, redact

TOKEN = "Zx9-secret_token.ABC"


def test_redact_replaces_link_tokens_and_query_strings():
    """Each kind of emailed link loses its token; ordinary paths are left alone."""
    assert redact(f"Bad Request: /verify-email/{TOKEN}") == "Bad Request: /verify-email/[redacted]"
    assert redact(f'"GET /password-reset/MQ/{TOKEN}/ HTTP/1.1" 302') == (
        '"GET /password-reset/[redacted] HTTP/1.1" 302')
    assert redact(f"/me/email/confirm/{TOKEN}/") == "/me/email/confirm/[redacted]"
    assert redact(f"GET /signup/?invitation={TOKEN}&email=a%40b.c") == (
        "GET /signup/?[redacted]")
    assert redact("GET /verify-email/resend/ 200") == "GET /verify-email/resend/ 200"
    assert redact("GET /api/v1/conversations 200") == "GET /api/v1/conversations 200"


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def capture(logger_name: str) -> ListHandler:
    handler = ListHandler()
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.propagate = False
    return handler


def test_filter_rewrites_records_on_the_server_loggers():
    """After install(), the servers' own loggers write no token (control: another logger does)."""
    install()
    for name in ["django.request", "uvicorn.access"]:
        propagate = logging.getLogger(name).propagate
        handler = capture(name)
        try:
            logging.getLogger(name).warning("Bad Request: %s", f"/verify-email/{TOKEN}")
        finally:
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).propagate = propagate
        assert handler.lines == ["Bad Request: /verify-email/[redacted]"]
    control = capture("tests.unfiltered")
    logging.getLogger("tests.unfiltered").warning("Bad Request: /verify-email/%s", TOKEN)
    logging.getLogger("tests.unfiltered").removeHandler(control)
    assert control.lines == [f"Bad Request: /verify-email/{TOKEN}"]


def test_root_handler_filters_every_propagating_record():
    """The console handler of the root logger carries the filter too."""
    from django.conf import settings

    assert "redact_tokens" in settings.LOGGING["handlers"]["console"]["filters"]
    assert isinstance(RedactTokensFilter(), logging.Filter)
