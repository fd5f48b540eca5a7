"""What a user sees of their logins: device, address, last seen; revocable."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class LoginSessionQuerySet(models.QuerySet):
    def active(self):
        return self.filter(ended_at__isnull=True)


class LoginSession(models.Model):
    """One login of a user, tied to the Django session key it currently has.

    The session key is rotated at every login step; ``session_key`` follows it.
    Ending a login deletes the Django session, so the cookie is worthless and
    open websockets of that session are closed.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="login_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = LoginSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self):
        return f"login {self.pk} of user {self.user_id}"

    @property
    def device_label(self) -> str:
        from accounts.useragent import describe_user_agent

        return describe_user_agent(self.user_agent)
