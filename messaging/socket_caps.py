"""Caps on the open websockets of one login session and of one user (issue 17, M1).

Each open socket holds server memory (up to the frame limit while a frame
arrives, plus the consumer's state), so a single account may not open
sockets without bound. The counts live in the server process: the resource
they protect is that process's memory, and a count kept in Redis would
outlive a crashed process. With N processes behind a balancer a user may
hold up to N times the cap (docs/api.md says so).

The consumer calls ``admit`` once the login is known and ``release`` when the
socket ends, whether or not it was admitted; both run on the event loop, so
no lock is needed.
"""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings


class SocketCaps:
    """Open sockets per session key and per user id, in this process."""

    def __init__(self):
        self._by_session: dict[str, set[object]] = defaultdict(set)
        self._by_user: dict[int, set[object]] = defaultdict(set)

    def admit(self, token: object, user_id: int, session_key: str) -> bool:
        """Count ``token`` for its session and user; False (and not counted) when over a cap."""
        if (len(self._by_session[session_key]) >= settings.SECURECHAT_WS_MAX_SOCKETS_PER_SESSION
                or len(self._by_user[user_id]) >= settings.SECURECHAT_WS_MAX_SOCKETS_PER_USER):
            return False
        self._by_session[session_key].add(token)
        self._by_user[user_id].add(token)
        return True

    def release(self, token: object, user_id: int, session_key: str) -> None:
        """Forget ``token`` (a socket that was never admitted is ignored)."""
        for table, key in ((self._by_session, session_key), (self._by_user, user_id)):
            members = table.get(key)
            if members is not None:
                members.discard(token)
                if not members:
                    del table[key]

    def open_sockets(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))


# The one registry of this process.
socket_caps = SocketCaps()
