"""Test-only URLconf of a server started with ``SECURECHAT_TEST_NO_UNWRAP`` (tests/settings.py
sets it as ROOT_URLCONF only then): the site's URLs, plus one probe that calls each
patched agecrypt entry point inside the server process and says what happened.

The probe is the positive control of tests/securechat/test_no_unwrap.py: it shows the
patch is in the process that serves the flows (its pid), that every entry point
refuses, and that no module kept a reference to an original function.
"""

from __future__ import annotations

import io
import os

from django.http import JsonResponse
from django.urls import path

import agecrypt
from securechat.urls import *  # noqa: F403 - the site's handlers and patterns
from securechat.urls import urlpatterns as site_patterns
from tests.support import no_unwrap

PROBE_PATH = "test-only/no-unwrap"


def _outcome(call) -> str:
    try:
        call()
    except no_unwrap.UnwrapInServer:
        return "refused"
    except Exception as error:  # noqa: BLE001 - any other outcome is reported, not raised
        return f"ran ({type(error).__name__})"
    return "ran"


def probe(request) -> JsonResponse:
    """Each entry point called directly (``owner.name``) and the public API called the way a
    server path would call it; every value must be ``refused``."""
    results = {}
    for owner, name, kind in no_unwrap._targets():
        member = owner.__dict__[name]
        function = member.__func__ if kind == "classmethod" else member
        results[no_unwrap._label(owner, name)] = _outcome(lambda f=function: f(None, None, None))
    # Encryption stays allowed: a real age file, to a random public key.
    recipient = agecrypt.X25519Recipient(os.urandom(32))
    ciphertext = agecrypt.encrypt(b"probe", [recipient])
    public = {
        "agecrypt.decrypt": lambda: agecrypt.decrypt(ciphertext, []),
        "agecrypt.decrypt_stream": lambda: agecrypt.decrypt_stream(io.BytesIO(ciphertext), []),
        "agecrypt.FileCipher.open": lambda: agecrypt.FileCipher.open(io.BytesIO(ciphertext), []),
        "agecrypt.parse_identities": lambda: agecrypt.parse_identities(
            "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"),
        "agecrypt.X25519Identity.generate": agecrypt.X25519Identity.generate,
        "agecrypt.HybridIdentity.generate": agecrypt.HybridIdentity.generate,
        "agecrypt.ScryptIdentity": lambda: agecrypt.ScryptIdentity("a passphrase"),
    }
    results.update({f"public {label}": _outcome(call) for label, call in public.items()})
    return JsonResponse({"pid": os.getpid(), "results": results,
                         "unpatched": no_unwrap.unpatched_references()})


urlpatterns = [path(PROBE_PATH, probe), *site_patterns]
