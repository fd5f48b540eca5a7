"""SecureChat's project package: settings, ASGI wiring and operations endpoints.

``__version__`` is the one place the version is written (PEP 440); ``manage.py
version`` prints it and CHANGELOG.md describes each release.
"""

__version__ = "2.0.0.dev0"
