from django.urls import include, path

urlpatterns = [
    path("", include("accounts.urls_auth")),
    path("", include("accounts.urls_me")),
]
