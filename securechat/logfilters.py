"""A logging filter that keeps tokens out of every log line.

Emailed links carry their token in the path (``/verify-email/<token>``,
``/password-reset/<uid>/<token>/``, ``/me/email/confirm/<token>/``) or the
query string (``/signup/?invitation=…``). Django's ``django.request`` logger
("Bad Request: <path>") and the servers' access logs would write them out.
The filter rewrites each record's message with those parts replaced by
``[redacted]`` before any handler formats it.
"""

import logging
import os
import re

TOKEN_PATHS = re.compile(
    r"(/verify-email/|/me/email/confirm/|/password-reset/)(?!resend/)[^\s\"'?]+"
)
QUERY_STRING = re.compile(r"(/[^\s\"'?]*)\?[^\s\"']*")


def redact(text: str) -> str:
    text = TOKEN_PATHS.sub(r"\1[redacted]", text)
    return QUERY_STRING.sub(r"\1?[redacted]", text)


class RedactTokensFilter(logging.Filter):
    """Redact the message template and each string argument in place.

    The record keeps its shape (uvicorn's access formatter unpacks ``args``),
    so only the strings inside it change.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


class DropWebsocketTraceFilter(logging.Filter):
    """Drop the websockets library's protocol trace (DEBUG records it logs itself).

    uvicorn hands the library its ``uvicorn.error`` logger; at ``--log-level
    debug`` the library logs every handshake header (the session and key
    cookies) and every frame (message text). Nothing else is filtered.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.DEBUG
                    and record.name in ("uvicorn.error", "websockets.server")
                    and f"{os.sep}websockets{os.sep}" in record.pathname)


# Loggers that write request paths and do not propagate to the root handler.
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error", "daphne.access", "daphne.server",
                  "django.request", "django.server", "django.channels.server")


def json_lines_formatter(**options):
    """The production formatter: one JSON object per line with only the named fields.

    python-json-logger adds every ``extra`` attribute of a record by default;
    ``django.request`` passes the request object, whose repr holds the full path
    (an emailed link's token, unredacted). Only the fields listed here are written.
    """
    from pythonjsonlogger.json import JsonFormatter

    kept = {"time", "level", "logger", "request_id", "message", "exc_info", "stack_info"}

    class JsonLinesFormatter(JsonFormatter):
        def process_log_record(self, log_data):
            return {key: value for key, value in log_data.items() if key in kept}

    return JsonLinesFormatter(**options)


def configure_logging(config: dict) -> None:
    """Django's ``LOGGING_CONFIG``: ``dictConfig``, and in JSON mode Python's warnings
    go through logging too (a bare warning on stderr would be the one non-JSON line)."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(config)
    if settings.SECURECHAT_LOG_FORMAT == "json":
        logging.captureWarnings(True)


def adopt_server_loggers() -> None:
    """Send the servers' own log lines through the root handler (JSON in production).

    uvicorn gives its loggers handlers of its own (plain text). A logger without
    handlers is left alone: ``--no-access-log`` leaves the access logger without
    one, and adopting it would turn the access log back on.
    """
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if logger.handlers:
            logger.handlers.clear()
            logger.propagate = True


def install() -> None:
    """Attach the filter to the servers' own loggers (their handlers are not ours)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokensFilter) for f in logger.filters):
            logger.addFilter(RedactTokensFilter())
    for name in ("uvicorn.error", "websockets.server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropWebsocketTraceFilter) for f in logger.filters):
            logger.addFilter(DropWebsocketTraceFilter())
