"""What accounts do that v2 conversations must hear about, as model signals.

- Removals the server announces: an account deleted or deactivated (by the account
  actions, the admin site's delete or active checkbox, a squatting holder's removal:
  any model delete or save) leaves every v2 conversation with a server notice.
- A new key generation (rotation, a reset with or without the recovery code, however
  it was made) is pushed live to everyone who shares a v2 conversation with its owner,
  so their clients show the key change before anyone tries to send.

Signals, because accounts imports nothing of messaging (tests/securechat/test_layout.py).
A queryset ``update(is_active=False)`` would bypass them: the account actions save the
model instead.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save, pre_delete

from accounts.models import KeyGeneration
from messaging.models import MemberV2
from messaging.v2.actions import do_announce_departure, notify_key_change


def _on_delete(sender, instance, **kwargs):
    do_announce_departure(instance, "deleted")


def _on_save(sender, instance, **kwargs):
    if instance.is_active:
        return

    if MemberV2.objects.filter(user_id=instance.pk).exists():
        do_announce_departure(instance, "deactivated")


def _on_new_generation(sender, instance, created, **kwargs):
    if not created:
        return

    notify_key_change(instance.user_id, instance.number)


def connect() -> None:
    post_save.connect(_on_new_generation, sender=KeyGeneration,
                      dispatch_uid="messaging.v2.key-change")
    pre_delete.connect(_on_delete, sender=settings.AUTH_USER_MODEL,
                       dispatch_uid="messaging.v2.departure.delete")
    post_save.connect(_on_save, sender=settings.AUTH_USER_MODEL,
                      dispatch_uid="messaging.v2.departure.deactivate")
