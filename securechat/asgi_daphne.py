"""The ASGI application as daphne serves it.

``daphne securechat.asgi_daphne:application`` marks the process as daphne's
before settings load, so upload creation is refused: daphne spools request
bodies of 100 kB or more to a temporary file before the application sees
them, which would put plaintext on disk (DESIGN.md §6, docs/operations.md).
"""

import os

os.environ["SECURECHAT_ASGI_SERVER"] = "daphne"

from securechat.asgi import application  # noqa: E402

__all__ = ["application"]
