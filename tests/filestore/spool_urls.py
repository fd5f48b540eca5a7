"""Test-only URLconf: the site plus a plain Django upload view, to show what the
plaintext probe finds when a body goes through Django's upload handling."""

import time

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from securechat.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def plain_django_upload(request):
    uploaded = request.FILES["file"]
    size = sum(len(chunk) for chunk in uploaded.chunks())
    # Django's request body is an unnamed temporary file and its upload a named one that
    # lives only while this view runs: keep it a second, so that the test's samplers (every
    # 20 ms, slower on a loaded machine) see what a plain upload leaves on disk every time.
    time.sleep(HOLD_SECONDS)
    return JsonResponse({"size": size})


HOLD_SECONDS = 1


urlpatterns = [path("test/plain-django-upload", plain_django_upload), *site_urlpatterns]
