"""``securechat.asgi``'s application as a server colluding with a ghost member.

Only tests/client/test_db_proofs.py serves it, after inserting a member as a bare database
row (no signed operation). The honest server refuses every epoch that does not list each
member row (so a ghost row would stop the group: no envelope is stored at all, which
proves nothing about what clients put in one). This server keeps the ghost as a member
(access, pushes, read positions) but stores envelopes that leave it out, as a server
working for the ghost would, so the test can read what clients encrypt to from the
stored envelopes. Everything else is the honest code.
"""

from securechat.asgi import application  # noqa: F401, I001 - sets Django up; what uvicorn serves
from messaging.v2 import actions

_honest_check = actions._check_epoch_fits


def _check_members_listed_or_ghosts(conversation, checked, member_ids, prefix=""):
    """The honest check against the members the epoch lists, when every one it lists is
    a member row (the rows it leaves out are the ghosts)."""
    listed = {entry.user_id for entry in checked.statement.members}
    _honest_check(conversation, checked, listed if listed <= member_ids else member_ids,
                  prefix)


actions._check_epoch_fits = _check_members_listed_or_ghosts
