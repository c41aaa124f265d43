"""What other domains do, in the same transaction, when ratings are created or change status.

The rating domain knows no subscriber: create_app subscribes work orders (a 差评 opens one) and
the statistics (a withdrawn or invalidated rating leaves the aggregates) to one `RatingHooks`
per app, and hands it to every session its sessionmaker makes (`session_info`), so that two
apps in one process (tests run several) each keep their own subscribers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# (session, records): the new ratings' stored columns (unmasked), each with its id.
CreatedHook = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]
# (session, record, old_status, new_status)
StatusChangedHook = Callable[[AsyncSession, dict[str, Any], str, str], Awaitable[None]]

_INFO_KEY = "haochaping.rating_hooks"


@dataclass(slots=True)
class RatingHooks:
    """The subscribers of one app."""

    on_created: list[CreatedHook] = field(default_factory=list)
    on_status_changed: list[StatusChangedHook] = field(default_factory=list)

    def session_info(self) -> dict[str, Any]:
        """The `info` of a sessionmaker whose sessions fire these hooks."""
        return {_INFO_KEY: self}


class HooksMissing(RuntimeError):
    """A session not made by an app's sessionmaker changed ratings: nobody would react."""


def of(session: AsyncSession) -> RatingHooks:
    """The hooks of the app whose sessionmaker made `session`."""
    hooks = session.info.get(_INFO_KEY)
    if hooks is None:
        raise HooksMissing(
            "this session carries no rating hooks: make it with the app's sessionmaker "
            "(app.state.sessionmaker), whose info holds them"
        )
    return hooks


async def created(session: AsyncSession, records: list[dict[str, Any]]) -> None:
    """Ratings were stored in this session's transaction."""
    for hook in of(session).on_created:
        await hook(session, records)


async def status_changed(
    session: AsyncSession, record: dict[str, Any], old_status: str, new_status: str
) -> None:
    """A rating was withdrawn, invalidated or restored in this session's transaction."""
    for hook in of(session).on_status_changed:
        await hook(session, record, old_status, new_status)
