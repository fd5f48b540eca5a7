from django.apps import AppConfig


class FilestoreConfig(AppConfig):
    name = "filestore"
    verbose_name = "Files"

    def ready(self):
        from filestore import references

        references.connect()
