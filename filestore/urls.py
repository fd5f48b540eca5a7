from django.urls import path

from filestore import bench, downloads, v2_downloads

urlpatterns = [
    path("api/v1/files/<str:message_id>", downloads.download, name="api-file"),
    path("api/v1/files/<str:message_id>/raw", downloads.raw, name="api-file-raw"),
    path("api/v1/v2/files/<str:upload_id>", v2_downloads.download, name="api-v2-file"),
]
if bench.enabled():
    urlpatterns.insert(0, path("api/v1/files/_bench/plain/<str:name>", bench.plain_download))
