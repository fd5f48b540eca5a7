"""URL wiring. Each app owns its URLs; this file only mounts them."""

from django.urls import include, path
from django.views.generic import TemplateView

from accounts.admin_site import site as admin_site
from accounts.views import v2 as shell
from securechat import health, metrics, serviceworker

handler400 = "securechat.errors.bad_request"
handler403 = "securechat.errors.permission_denied"
handler404 = "securechat.errors.not_found"
handler500 = "securechat.errors.server_error"

urlpatterns = [
    path("api/v1/health", health.health, name="health"),
    path("api/v1/health/live", health.live, name="health-live"),
    path("api/v1/health/ready", health.ready, name="health-ready"),
    path("api/v1/metrics", metrics.metrics, name="metrics"),
    path("admin/", admin_site.urls),
    path("", include("accounts.urls")),
    # The v2 shell is the site; the name `home` is what pages and redirects reverse.
    path("", shell.app, name="home"),
    path("", include("messaging.urls_api")),
    path("", include("messaging.v2.urls")),
    path("", include("filestore.urls")),
    # The download Service Worker's scope (securechat/serviceworker.py).
    path("dl/sw-<str:digest>.js", serviceworker.script, name="download-sw"),
    path("dl/", serviceworker.not_intercepted, name="download-sw-scope"),
    path("dl/<path:rest>", serviceworker.not_intercepted),
    path("about/", TemplateView.as_view(template_name="securechat/about.html"), name="about"),
]
