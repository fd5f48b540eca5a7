from django.urls import include, path

urlpatterns = [
    path("", include("accounts.urls_auth")),
    path("", include("accounts.urls_me")),
    path("", include("accounts.urls_v2")),
]
