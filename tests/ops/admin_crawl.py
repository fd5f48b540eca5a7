"""Log in to the admin on a live server the way an operator does, and visit every page.

``admin_login`` follows ``/admin/login/`` to the site's login, logs in there as a
client does (prelogin, the auth key derived from the password, then a code
computed with ``pyotp`` from the device's secret -- a code for the next time
step, so it is never the one used to confirm the device), and checks that the
admin index then opens. ``crawl`` visits the index, each
app's index, and for every model registered on ``accounts.admin_site.site``
its changelist and the change and history pages of its objects (up to
``per_model``; every model must have at least one). Sorting a changelist by
each sortable column is visited too, since annotations differ per ordering.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

import httpx
import pyotp
from django.contrib import admin
from django.urls import reverse


def pyotp_code(device, *, ahead: int = 1) -> str:
    """The device's TOTP code ``ahead`` steps from now, from its secret, with pyotp."""
    secret = base64.b32encode(device.bin_key).decode()
    totp = pyotp.TOTP(secret, digits=device.digits, interval=device.step)
    return totp.at(time.time() + ahead * device.step)


def admin_login(server, email: str, password: str, device) -> httpx.Client:
    from tests.support.accounts import b64url, derive_for

    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False,
                          headers={"Origin": server.origin})
    page = client.get("/admin/login/")
    assert page.status_code == 302 and page.headers["location"] == "/login/?next=%2Fadmin%2F"

    def post(path, body):
        token = client.get("/api/v1/csrf").json()["csrf_token"]
        return client.post(path, json=body, headers={"X-CSRFToken": token})

    assert post("/api/v1/auth/prelogin", {"email": email}).status_code == 200
    keys = derive_for(email, password)  # the salt prelogin answers, the test work factor
    response = post("/api/v1/auth/login", {"email": email, "auth_key": b64url(keys.auth_key)})
    assert response.status_code == 200 and response.json()["otp_required"], response.text
    response = post("/api/v1/auth/otp", {"code": pyotp_code(device)})
    assert response.status_code == 200, response.text
    index = client.get("/admin/")
    assert index.status_code == 200 and "SecureChat administration" in index.text, \
        (index.status_code, index.text[:300])
    return client


client_login = admin_login  # the name tests/ops/test_admin_content.py and test_logs.py use


@dataclass
class Page:
    url: str
    status: int
    html: str


@dataclass
class Crawl:
    pages: list[Page] = field(default_factory=list)
    models: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(p.html for p in self.pages)


def registry():
    from accounts.admin_site import site

    admin.autodiscover()
    return site, site._registry


def crawl(client: httpx.Client, *, per_model: int = 5, every_model_seeded: bool = True) -> Crawl:
    """Visit every admin page; ``every_model_seeded`` (the default) insists that each
    model has objects, so that a content test proves something for each."""
    site, models = registry()
    result = Crawl()

    def visit(url: str) -> Page:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:500])
        page = Page(url, response.status_code, response.text)
        result.pages.append(page)
        return page

    visit(reverse("admin:index", current_app=site.name))
    for app_label in sorted({m._meta.app_label for m in models}):
        visit(reverse("admin:app_list", kwargs={"app_label": app_label}))
    for model, model_admin in models.items():
        opts = model._meta
        result.models.append(opts.label)
        base = f"admin:{opts.app_label}_{opts.model_name}"
        changelist = reverse(f"{base}_changelist")
        visit(changelist)
        for index, _name in enumerate(model_admin.list_display, start=1):
            visit(f"{changelist}?o={index}")
        objects = list(model._default_manager.all()[:per_model])
        assert objects or not every_model_seeded, \
            f"no {opts.label} seeded: the crawl would prove nothing for it"
        for obj in objects:
            visit(reverse(f"{base}_change", args=[obj.pk]))
            visit(reverse(f"{base}_history", args=[obj.pk]))
    return result
