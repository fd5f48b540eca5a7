from django.urls import include, path

urlpatterns = [
    path("", include("accounts.urls_v2")),  # the shell's paths first (accounts/urls_v2.py)
    path("", include("accounts.urls_auth")),
    path("", include("accounts.urls_me")),
]
