"""The console's routes, installed by create_app (none of them in the API contract)."""

from fastapi import FastAPI

from app.console import (
    alert_rules,
    alerts,
    boards,
    bulletin,
    dashboard,
    desk,
    devices,
    places,
    registry,
    signin,
)

_MODULES = (
    signin,
    desk,
    dashboard,
    registry,
    alert_rules,
    places,
    alerts,
    boards,
    bulletin,
    devices,
)


def install(app: FastAPI) -> None:
    for module in _MODULES:
        app.include_router(module.router)
