from django.apps import AppConfig


class FilestoreConfig(AppConfig):
    name = "filestore"
    verbose_name = "Files"

    def ready(self):
        from messaging.signals import messages_tombstoned

        messages_tombstoned.connect(_delete_files_of_tombstones,
                                    dispatch_uid="filestore-delete-tombstoned-files")
        from filestore import references

        references.connect()


def _delete_files_of_tombstones(sender, message_ids=(), **kwargs):
    from filestore.actions import do_delete_stored_files

    do_delete_stored_files(message_ids)
