"""Error responses: JSON ``{"error", "detail"}`` under /api/, pages elsewhere."""

from django.http import JsonResponse
from django.shortcuts import render


def wants_json(request) -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def csrf_failure(request, reason=""):
    detail = "CSRF check failed: send the X-CSRFToken header (GET /api/v1/csrf) and an Origin."
    if wants_json(request):
        return json_error(403, "csrf_failed", detail)
    return render(request, "securechat/error.html", {"title": "Forbidden", "detail": detail},
                  status=403)


def not_found(request, exception=None):
    if wants_json(request):
        return json_error(404, "not_found", "No such resource.")
    return render(request, "securechat/error.html",
                  {"title": "Not found", "detail": "There is nothing at this address."},
                  status=404)


def server_error(request):
    if wants_json(request):
        return json_error(500, "server_error", "Something went wrong on our side.")
    return render(request, "securechat/error.html",
                  {"title": "Server error", "detail": "Something went wrong on our side."},
                  status=500)


def bad_request(request, exception=None):
    if wants_json(request):
        return json_error(400, "bad_request", "The request could not be understood.")
    return render(request, "securechat/error.html",
                  {"title": "Bad request", "detail": "The request could not be understood."},
                  status=400)


def permission_denied(request, exception=None):
    if wants_json(request):
        return json_error(403, "forbidden", "You may not do that.")
    return render(request, "securechat/error.html",
                  {"title": "Forbidden", "detail": "You may not do that."}, status=403)
