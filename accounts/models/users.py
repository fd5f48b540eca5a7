"""The user, with the email address as login name."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from accounts.addresses import MAX_STORED_LENGTH, address_key


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email=address_key(email) or "")

    def by_address(self, text):
        """The account(s) whose address is ``text`` in any spelling that normalises to it."""
        key = address_key(text)
        return self.filter(email=key) if key is not None else self.none()

    def _create_user(self, email, password, **extra_fields):
        if not address_key(email):
            raise ValueError("An email address is required.")
        user = self.model(email=address_key(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A SecureChat account, known by its address in the one normalised form.

    ``email`` holds ``accounts.addresses.address_key`` of the address (unique);
    ``save`` normalises, so no path can store a second spelling.
    """

    email = models.EmailField("email address", max_length=MAX_STORED_LENGTH, unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # A new address waiting for its verification link to be opened (email change).
    pending_email = models.EmailField(max_length=MAX_STORED_LENGTH, blank=True, default="")
    # Signed up through a staff invitation (``createadmin``) or promoted before having a
    # second factor: becomes staff and superuser when the authenticator is confirmed.
    admin_on_2fa = models.BooleanField(default=False)
    # Plain metadata shown to contacts instead of the address (DESIGN.md §4); empty when
    # unset. Cleaned by ``accounts.actions.profile.check_display_name``.
    display_name = models.CharField(max_length=64, blank=True, default="")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        key = address_key(self.email)
        if key is None:
            raise ValueError("A user needs an email address.")
        self.email = key  # every path stores the one spelling (lookups compare exactly)
        super().save(*args, **kwargs)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None
