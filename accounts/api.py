"""JSON API of accounts (docs/api.md)."""

from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.http import require_GET


@require_GET
def csrf(request):
    """Set the CSRF cookie and return the token for the X-CSRFToken header."""
    return JsonResponse({"csrf_token": get_token(request)}, headers={"Cache-Control": "no-store"})
