from django.urls import path, re_path

from filestore import bench, downloads, serviceworker

urlpatterns = [
    path("api/v1/files/<str:upload_id>", downloads.download, name="api-file"),
    re_path(r"^dl/sw-(?P<digest>[0-9a-f]{16})\.js$", serviceworker.script, name="download-sw"),
    re_path(r"^dl/(?P<rest>.*)$", serviceworker.not_intercepted, name="download-sw-scope"),
]
if bench.enabled():
    urlpatterns.insert(0, path("api/v1/files/_bench/plain/<str:name>", bench.plain_download))
