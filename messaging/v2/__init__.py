"""Version 2 (end-to-end) messaging, the only kind since the cutover (DESIGN.md §3, §5).

``errors`` the refusals, ``wire`` JSON fields in and out, ``checks`` the
garbage filters over what clients signed (parse, shape, signature; never a
decryption), ``access`` who may see a conversation, ``actions`` every state
change (``do_*`` with its ``check_*``), ``reads`` the queries, ``api`` and
``urls`` the HTTP adapters.
"""
