"""Fixtures for messaging tests: version 2 users signed up through the client flow."""

from __future__ import annotations

import pytest

from tests.support.v2chat import V2User


@pytest.fixture
def trio(transactional_db):
    """Three version 2 users (Alice, Bob, Carol), signed up through the client flow."""
    return V2User.signup("alice"), V2User.signup("bob"), V2User.signup("carol")
