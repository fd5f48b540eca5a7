"""Registration claims hold client-made keys (the cutover to version 2).

A claim made before holds an Argon2 password hash and server-made keys that no
login can use any more: they are deleted (their links stop working; the
claimant signs up again).
"""

from django.db import migrations, models


def drop_v1_claims(apps, schema_editor):
    apps.get_model("accounts", "PendingClaim").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0013_pending_email_keys"),
    ]

    operations = [
        migrations.RunPython(drop_v1_claims, migrations.RunPython.noop),
        migrations.RemoveField(model_name="pendingclaim", name="password"),
        migrations.RemoveField(model_name="pendingclaim", name="recovery_recipient"),
        migrations.AddField(
            model_name="pendingclaim", name="account_salt",
            field=models.BinaryField(default=b"", max_length=16), preserve_default=False),
        migrations.AddField(
            model_name="pendingclaim", name="work_factor",
            field=models.PositiveSmallIntegerField(default=0), preserve_default=False),
        migrations.AddField(
            model_name="pendingclaim", name="auth_hash",
            field=models.BinaryField(default=b"", max_length=32), preserve_default=False),
    ]
