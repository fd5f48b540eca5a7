"""Typed errors of the :mod:`client` crypto library.

Every failure is a :class:`ClientCryptoError`. Each class carries a stable
``code`` (a short ASCII string) so that test vectors shared with the browser
client can name the expected failure (``"error": "bad_tag"``) without naming a
Python class. Messages never contain secrets or the rejected input itself.
"""

from __future__ import annotations

__all__ = [
    "AccountParamsError",
    "ApiFailure",
    "BoxAuthError",
    "CannotOpenError",
    "ChainLinkError",
    "ChainOrderError",
    "BoxError",
    "BoxFormatError",
    "ClientCryptoError",
    "EmailError",
    "EpochError",
    "EquivocationDetected",
    "FileChangedError",
    "FileHashError",
    "FileHashMismatch",
    "ForkDetected",
    "IdentityFileError",
    "DirectoryMismatch",
    "KeyMismatchError",
    "LocalFileError",
    "MemberLimitError",
    "MembershipError",
    "NotAuthorizedError",
    "NotMyKey",
    "PaddingError",
    "PinBlobError",
    "PinMismatchError",
    "PinRollbackError",
    "ProtocolError",
    "RecoveryCodeError",
    "SafetyNumberError",
    "SaltError",
    "SignatureError",
    "StatementError",
    "UnknownKeyError",
    "UnknownKindError",
    "UnwrapError",
    "UsageError",
    "WorkFactorError",
    "WrappedIdentityError",
]


class ClientCryptoError(Exception):
    """Base class of every error raised by :mod:`client`."""

    code = "client_error"


class UsageError(ClientCryptoError, ValueError):
    """An argument has the wrong type or is out of range (a programming error)."""

    code = "usage"


class StatementError(ClientCryptoError, ValueError):
    """A statement or field is malformed or non-canonical (wrong tag, length, trailing bytes)."""

    code = "bad_statement"


class EmailError(ClientCryptoError, ValueError):
    """The text does not normalise to a valid address (one ``@``, non-empty parts)."""

    code = "bad_email"


class SaltError(ClientCryptoError, ValueError):
    """An account salt is not exactly 16 bytes."""

    code = "bad_salt"


class WorkFactorError(ClientCryptoError, ValueError):
    """A work factor outside the range the client accepts (refused before scrypt runs)."""

    code = "bad_work_factor"


class WrappedIdentityError(ClientCryptoError, ValueError):
    """A wrapped identity is not an age file of the required shape (checked before scrypt)."""

    code = "bad_wrapped_identity"


class UnwrapError(ClientCryptoError):
    """A well-formed wrapped identity did not open (wrong passphrase or recovery code, tampered)."""

    code = "unwrap_failed"


class IdentityFileError(ClientCryptoError, ValueError):
    """An identity file is not one this client writes (never says what it holds)."""

    code = "bad_identity_file"


class KeyMismatchError(ClientCryptoError):
    """Keys that must agree do not (e.g. a recovery copy names another recovery recipient)."""

    code = "key_mismatch"


class RecoveryCodeError(ClientCryptoError, ValueError):
    """The text is not a well-formed recovery code."""

    code = "bad_recovery_code"


class SafetyNumberError(ClientCryptoError, ValueError):
    """Safety-number input is invalid (same user twice) or a QR payload is malformed."""

    code = "bad_safety_input"


class SignatureError(ClientCryptoError):
    """An Ed25519 signature does not verify, or a key or signature has the wrong size."""

    code = "bad_signature"


class BoxError(ClientCryptoError):
    """A message box could not be sealed or opened."""

    code = "bad_box"


class BoxFormatError(BoxError, ValueError):
    """The box is structurally invalid: unknown version byte or a size out of range."""

    code = "bad_format"


class BoxAuthError(BoxError):
    """The AEAD tag does not verify: wrong context, epoch secret, salt, or a tampered byte."""

    code = "bad_tag"


class PaddingError(BoxError):
    """The authenticated plaintext is not canonically padded (never released)."""

    code = "bad_padding"


class UnknownKeyError(ClientCryptoError):
    """No pinned or accepted public key for the (user id, key generation) a statement names."""

    code = "unknown_key"


class MembershipError(ClientCryptoError):
    """A membership operation is invalid where it stands (wrong target, argument, or first kind)."""

    code = "bad_membership"


class ChainOrderError(MembershipError):
    """A gap, a repeated (replayed) operation, a reorder, or another conversation's operation."""

    code = "chain_order"


class ChainLinkError(MembershipError):
    """An operation's previous hash is not the hash of the operation before it."""

    code = "chain_link"


class UnknownKindError(MembershipError):
    """An operation kind this client does not know (refused, never skipped)."""

    code = "unknown_kind"


class NotAuthorizedError(MembershipError):
    """The actor had no right to the operation in the state before it (e.g. removed, not admin)."""

    code = "not_authorized"


class MemberLimitError(MembershipError):
    """An ``add`` would take the conversation above its member limit."""

    code = "member_limit"


class ForkDetected(MembershipError):
    """Two different signed operations with one index: the server forked the chain.

    ``index`` is the operation index; ``first`` and ``second`` are the two
    ``(statement bytes, signature)`` pairs, the one already accepted first.
    """

    code = "fork"

    def __init__(self, index: int, first: tuple[bytes, bytes], second: tuple[bytes, bytes]):
        super().__init__(f"two different membership operations with index {index}")
        self.index = index
        self.first = first
        self.second = second


class EpochError(ClientCryptoError):
    """An epoch envelope or statement is inconsistent (hash, plaintext, member list, stanzas)."""

    code = "bad_epoch"


class NotMyKey(EpochError):
    """The reader's own entry in an epoch is not its own current keys (make a replacement)."""

    code = "not_my_key"


class PinMismatchError(EpochError):
    """A member entry differs from the keys this client pinned or accepted for that member."""

    code = "pin_mismatch"


class CannotOpenError(EpochError):
    """The envelope lists the reader but its stanza does not open (publish a cannot-open notice)."""

    code = "cannot_open"


class EquivocationDetected(EpochError):
    """Two envelope hashes for one epoch number of one conversation (blocks sending).

    Carries ``conversation_id``, ``epoch`` and both hashes, ``first`` (already
    recorded) and ``second``.
    """

    code = "equivocation"

    def __init__(self, conversation_id: bytes, epoch: int, first: bytes, second: bytes):
        super().__init__(f"two envelopes for epoch {epoch}")
        self.conversation_id = conversation_id
        self.epoch = epoch
        self.first = first
        self.second = second


class PinBlobError(ClientCryptoError):
    """A pin blob does not open, does not verify, or its content is not canonical."""

    code = "bad_pin_blob"


class PinRollbackError(PinBlobError):
    """A pin blob older than the newest version this client has seen (a rollback)."""

    code = "pin_rollback"


class FileHashError(ClientCryptoError):
    """The bytes fed to the file hash are not an age file (header, nonce or chunk sizes)."""

    code = "bad_file"


class FileHashMismatch(FileHashError):
    """A well-formed file whose hash differs from the signed ``file_hash`` (a forgery)."""

    code = "file_hash_mismatch"


class FileChangedError(ClientCryptoError):
    """A file being uploaded changed under the client (a chunk read twice hashed
    differently): sending on would give one chunk index two ciphertexts under one key
    and nonce, so the upload stops (client.files)."""

    code = "file_changed"


# --- the network client (client.http, client.account, client.cli) -------------


class ApiFailure(ClientCryptoError):
    """The server refused a request, or could not be reached.

    ``code`` is the server's error code (``"invalid_credentials"``, …; the
    class's ``"api_failure"`` when the answer was not the documented JSON
    error, ``"unreachable"`` when no answer came), ``status`` the HTTP status
    (0 when unreachable), ``detail`` the server's sentence and ``field`` the
    input it names, if any. The message is what the CLI prints.
    """

    code = "api_failure"

    def __init__(self, code: str, status: int, detail: str, field: str | None = None):
        super().__init__(detail)
        self.code = code
        self.status = status
        self.detail = detail
        self.field = field


class ProtocolError(ClientCryptoError, ValueError):
    """A server answer is not the documented shape (missing member, bad base64, wrong size)."""

    code = "bad_response"


class AccountParamsError(ClientCryptoError):
    """The server's (account salt, work factor) for a known account changed in a way this
    client did not cause: another salt, or a lower work factor (a lying server)."""

    code = "params_changed"


class DirectoryMismatch(ClientCryptoError):
    """The key directory's generations differ from the identity file's (a generation this
    client never made, or one missing, or other public keys)."""

    code = "directory_mismatch"


class LocalFileError(ClientCryptoError):
    """A local file or directory is unsafe or unusable (readable by others, not a file)."""

    code = "local_file"
