"""Error responses: the API's JSON error (``accounts.errors``) under /api/, pages elsewhere."""

from django.shortcuts import render

from accounts.errors import ApiError, error_response


def wants_json(request) -> bool:
    return request.path.startswith("/api/")


def _answer(request, status: int, code: str, title: str, detail: str):
    if wants_json(request):
        return error_response(ApiError(detail, code=code, status=status))
    return render(request, "securechat/error.html", {"title": title, "detail": detail},
                  status=status)


def csrf_failure(request, reason=""):
    return _answer(request, 403, "csrf_failed", "Forbidden",
                   "CSRF check failed: send the X-CSRFToken header (GET /api/v1/csrf) "
                   "and an Origin.")


def not_found(request, exception=None):
    if wants_json(request):
        return error_response(ApiError("No such resource.", code="not_found", status=404))
    return _answer(request, 404, "not_found", "Not found", "There is nothing at this address.")


def server_error(request):
    return _answer(request, 500, "server_error", "Server error",
                   "Something went wrong on our side.")


def bad_request(request, exception=None):
    return _answer(request, 400, "bad_request", "Bad request",
                   "The request could not be understood.")


def permission_denied(request, exception=None):
    return _answer(request, 403, "forbidden", "Forbidden", "You may not do that.")
