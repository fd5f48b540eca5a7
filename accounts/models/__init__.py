"""Models of accounts, one concept per module."""

from accounts.models.audit import AuditEvent
from accounts.models.claims import PendingClaim
from accounts.models.clientauth import ClientAuth, PendingEmailKeys
from accounts.models.devices import BackupCode, BackupCodeDevice, ForgivingTOTPDevice
from accounts.models.heldresets import HeldReset
from accounts.models.invitations import Invitation
from accounts.models.keys import KeyGeneration, WrappedIdentity
from accounts.models.pins import PinBlob
from accounts.models.sessions import LoginSession
from accounts.models.users import User, UserManager

__all__ = [
    "AuditEvent", "BackupCode", "BackupCodeDevice", "ClientAuth", "ForgivingTOTPDevice",
    "HeldReset", "Invitation", "KeyGeneration", "LoginSession", "PendingClaim", "PendingEmailKeys",
    "PinBlob", "User",
    "UserManager", "WrappedIdentity",
]
