from django.urls import path

from filestore import bench, downloads

urlpatterns = [
    path("api/v1/files/<str:upload_id>", downloads.download, name="api-file"),
]
if bench.enabled():
    urlpatterns.insert(0, path("api/v1/files/_bench/plain/<str:name>", bench.plain_download))
