"""The kiosk's fixtures: a window with a registered tablet, and its enrolment."""

from __future__ import annotations

import pytest

from tests.fixtures.factories import make_device


@pytest.fixture
async def device(client, admin) -> dict:
    """Department SJ, window A01 and a tablet registered there (it must sign its requests)."""
    created, _ = await make_device(client, admin, "SJ", "A01", signed=True)
    return created


@pytest.fixture
async def enrolled(client, admin, device) -> dict:
    """The device enrolled as the tablet page does it: the key the redemption hands over."""
    issued = await client.post(f"/v1/devices/{device['id']}/enrolment", headers=admin)
    assert issued.status_code == 201, issued.text
    redeemed = await client.post("/v1/kiosk/enrolment", json={"token": issued.json()["token"]})
    assert redeemed.status_code == 200, redeemed.text
    return redeemed.json()
