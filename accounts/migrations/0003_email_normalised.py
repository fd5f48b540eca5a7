"""Addresses in their one normalised form (accounts.addresses).

Existing users, pending addresses and invitations are rewritten to the
normalised form. Two accounts whose addresses normalise to one form cannot
both keep it: the migration then refuses to run, changes nothing, and prints
the rows so that an operator can decide (for example deactivate one, or change
its address with ``manage.py shell`` before migrating again).
"""

import sys
from collections import defaultdict

from django.db import migrations, models

from accounts.addresses import address_key


class AddressCollision(RuntimeError):
    pass


def _collisions(rows) -> list[str]:
    by_key = defaultdict(list)
    problems = []
    for pk, email in rows:
        key = address_key(email)
        if key is None:
            problems.append(f"user {pk} <{email}> is not an address")
        else:
            by_key[key].append(f"user {pk} <{email}>")
    for key, users in sorted(by_key.items()):
        if len(users) > 1:
            problems.append(f"{', '.join(users)} all normalise to <{key}>")
    return problems


def normalise_addresses(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Invitation = apps.get_model("accounts", "Invitation")
    rows = list(User.objects.order_by("pk").values_list("pk", "email"))
    problems = _collisions(rows)
    if problems:
        message = ("Cannot normalise email addresses; nothing was changed:\n  "
                   + "\n  ".join(problems))
        print(message, file=sys.stderr)
        raise AddressCollision(message)
    for pk, email in rows:
        if address_key(email) != email:
            User.objects.filter(pk=pk).update(email=address_key(email))
    for pk, pending in User.objects.exclude(pending_email="").values_list("pk", "pending_email"):
        User.objects.filter(pk=pk).update(pending_email=address_key(pending) or "")
    for pk, email in Invitation.objects.values_list("pk", "email"):
        if address_key(email) not in (None, email):
            Invitation.objects.filter(pk=pk).update(email=address_key(email))


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_user_pending_email"),
    ]

    operations = [
        migrations.AlterField(
            model_name="invitation",
            name="email",
            field=models.EmailField(max_length=320),
        ),
        migrations.AlterField(
            model_name="user",
            name="email",
            field=models.EmailField(max_length=320, unique=True, verbose_name="email address"),
        ),
        migrations.AlterField(
            model_name="user",
            name="pending_email",
            field=models.EmailField(blank=True, default="", max_length=320),
        ),
        migrations.RunPython(normalise_addresses, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="user",
            name="accounts_user_email_ci_unique",
        ),
    ]
