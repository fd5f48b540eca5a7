#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securechat.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    # Django answers "version" itself (with Django's version) before looking for
    # commands: SecureChat's goes by another name, and "version" is routed to it.
    if argv[1:2] == ["version"]:
        argv[1] = "securechat_version"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
