"""Fixtures of the personal-data tests."""

import pytest

from tests.fixtures.factories import auth, make_department, make_key, make_window


@pytest.fixture
async def keys(app, client, admin):
    """Department SJ with window A01, and a key of each role that meets personal data."""
    await make_department(client, admin, "SJ")
    await make_window(client, admin, "SJ", "A01")
    return {
        "admin": admin,
        "portal": auth(await make_key(app, "portal", "政务服务网")),
        "hotline": auth(await make_key(app, "hotline", "12345热线")),
        "reader": auth(await make_key(app, "reader")),
        "department": auth(await make_key(app, "department", department_code="SJ")),
    }
