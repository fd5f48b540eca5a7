"""Test-only URLconf: the site plus a plain Django upload view, to show what the
plaintext probe finds when a body goes through Django's upload handling."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from securechat.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def plain_django_upload(request):
    uploaded = request.FILES["file"]
    size = sum(len(chunk) for chunk in uploaded.chunks())
    return JsonResponse({"size": size})


urlpatterns = [path("test/plain-django-upload", plain_django_upload), *site_urlpatterns]
