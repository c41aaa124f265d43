"""Staff photos: admin writes (JPEG or PNG by the bytes, at most 512 KiB), every key reads; the
tablet's session names the staff member on duty and links the photo."""

from __future__ import annotations

from app.registry.staff_photo import MAX_PHOTO_BYTES, sniff
from tests.fixtures.factories import assert_problem, auth, make_department, make_key
from tests.fixtures.images import png


def test_the_type_is_read_from_the_bytes():
    assert sniff(png()) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0" + b"\x00" * 20) == "image/jpeg"
    assert sniff(b"<svg onload=alert(1)>") is None and sniff(b"") is None


async def _put(client, headers, staff_id, data, content_type="image/png"):
    return await client.put(
        f"/v1/staff/{staff_id}/photo",
        content=data,
        headers={**headers, "Content-Type": content_type},
    )


async def test_a_photo_is_stored_read_replaced_and_removed(app, client, admin):
    await make_department(client, admin, "SJ")
    assert (
        await client.put(
            "/v1/staff/SJ007", json={"name": "张三", "department_code": "SJ"}, headers=admin
        )
    ).status_code == 201
    photo = png()
    # Declared as JPEG, but PNG by its bytes: stored as what it is.
    assert (await _put(client, admin, "SJ007", photo, "image/jpeg")).status_code == 204
    reader = auth(await make_key(app, "reader"))
    got = await client.get("/v1/staff/SJ007/photo", headers=reader)
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"

    assert_problem(await _put(client, reader, "SJ007", photo), 403)  # admin writes
    assert_problem(await _put(client, admin, "NOBODY", photo), 404)  # registered staff only
    assert_problem(await _put(client, admin, "SJ007", photo, "text/plain"), 415)
    assert_problem(await _put(client, admin, "SJ007", b"<svg/>", "image/png"), 422)
    assert_problem(await _put(client, admin, "SJ007", b"", "image/png"), 422)
    big = photo + b"\x00" * MAX_PHOTO_BYTES
    assert_problem(await _put(client, admin, "SJ007", big), 413)
    assert (await client.get("/v1/staff/SJ007/photo", headers=reader)).content == photo  # kept

    assert (await client.delete("/v1/staff/SJ007/photo", headers=admin)).status_code == 204
    assert_problem(await client.get("/v1/staff/SJ007/photo", headers=reader), 404)
    assert_problem(await client.delete("/v1/staff/SJ007/photo", headers=admin), 404)


async def test_the_session_names_the_staff_on_duty_and_links_the_photo(client, admin):
    from tests.fixtures.factories import make_device

    device, _ = await make_device(client, admin, "SJ", "A01")
    await client.put(
        "/v1/staff/SJ007", json={"name": "张三", "department_code": "SJ"}, headers=admin
    )
    path = f"/v1/devices/{device['id']}/session"
    session = (await client.put(path, json={"staff_id": "SJ007"}, headers=admin)).json()
    assert (session["staff_name"], session["staff_photo_url"]) == ("张三", None)
    await _put(client, admin, "SJ007", png())
    first = (await client.get(path, headers=admin)).json()["staff_photo_url"]
    assert first.startswith("/kiosk/staff-photos/")
    image = await client.get(first)  # what the page's <img> loads: no key, the name suffices
    assert image.status_code == 200 and image.content == png()
    assert image.headers["content-type"] == "image/png"
    await _put(client, admin, "SJ007", png(rgb=(0, 0, 200)))  # a new upload, a new address
    second = (await client.get(path, headers=admin)).json()["staff_photo_url"]
    assert second != first and (await client.get(first)).status_code == 404
    unregistered = (await client.put(path, json={"staff_id": "SJ999"}, headers=admin)).json()
    assert (unregistered["staff_name"], unregistered["staff_photo_url"]) == (None, None)
    assert (await client.get("/kiosk/staff-photos/" + "x" * 32)).status_code == 404
