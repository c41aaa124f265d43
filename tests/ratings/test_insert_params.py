"""A batch's INSERT parameters, built column by column, are what each event's own parameters
(the single-event form) would give, event by event: sealed personal data opens to the same
text, and the priors of the request's earlier events line up with their events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app import privacy
from app.auth.service import Principal
from app.config import IntegritySettings
from app.ratings import flags, ingest, insert

SEALED = {"rater_name": "rating.rater_name", "rater_phone": "rating.rater_phone"}


async def test_the_columns_of_a_batch_are_its_events_parameters(app):
    now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    principal = Principal(uuid.uuid4(), uuid.uuid4(), "来源", "portal")
    raw = []
    for i in range(60):
        event = {
            "event_id": f"p-{i}",
            "channel": ("pc", "mobile")[i % 2],
            "department_code": ("SJ", "GA")[i % 3 == 0],
            "level": 5 - i % 3,
            "tags": ["praise_attitude", "praise_efficiency"][: i % 3],
            "rated_at": (now - timedelta(seconds=i % 7)).isoformat(),
        }
        if i % 4 == 0:
            event["comment"] = f"第{i}次 请回电13955554444"
            event["rater"] = {"type": "individual", "name": "孙七", "phone": "13955554444"}
        raw.append(event)
    judged = [
        ingest.judge(i, e, principal, settings=app.state.settings, now=now)
        for i, e in enumerate(raw)
    ]
    assert all(item is not None for _, item in judged), [o.errors for o, _ in judged if o.errors]
    items = [item for _, item in judged]
    rules = IntegritySettings(bare_burst_count=3, share_sample=6)
    columns = insert.insert_params(principal, items, rules)

    ring = privacy.keyring()
    priors = flags.batch_priors([i.values for i in items], device=False, settings=rules)
    assert any(priors.share) and any(priors.bare) and any(priors.phone)
    for n, (item, event_priors) in enumerate(zip(items, zip(*priors, strict=True), strict=True)):
        one = insert._event_params(item, ring, flags.Priors(*event_priors))
        for name, value in one.items():
            got = columns[name][n]
            if name in SEALED:
                got, value = (ring.decrypt(v, SEALED[name]) for v in (got, value))
            elif name == "comment":
                got, value = (ring.open_text(v, "rating.comment") for v in (got, value))
            assert got == value, (n, name)
    assert set(columns) >= set(one)
