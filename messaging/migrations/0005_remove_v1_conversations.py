"""Version 1 conversations, memberships, messages and contact pins go (the cutover to
version 2: DESIGN.md §1, issue 12 "Sequencing" step 2). Their rows held server-made
ciphertext and the server's own pins; nothing of version 2 refers to them. Blocks stay.

After filestore's 0004, which drops the v1 uploads and stored files that pointed at
these messages and conversations.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0004_v2_tombstones_expiry"),
        ("filestore", "0004_remove_v1_files"),
    ]

    operations = [
        migrations.DeleteModel(name="Message"),
        migrations.DeleteModel(name="Membership"),
        migrations.DeleteModel(name="ContactPins"),
        migrations.DeleteModel(name="Conversation"),
    ]
