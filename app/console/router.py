"""The console's routes, installed by create_app (none of them in the API contract)."""

from fastapi import FastAPI

from app.console import alerts, boards, bulletin, dashboard, desk, devices, places, registry, signin


def install(app: FastAPI) -> None:
    for module in (signin, desk, dashboard, registry, places, alerts, boards, bulletin, devices):
        app.include_router(module.router)
