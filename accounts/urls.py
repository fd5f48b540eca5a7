from django.urls import include, path

urlpatterns = [
    # First: the shell's page paths win over any older page route with the same path.
    path("", include("accounts.urls_v2")),
    path("", include("accounts.urls_auth")),
    path("", include("accounts.urls_me")),
]
