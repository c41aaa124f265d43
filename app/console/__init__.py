"""The console (/console): pages for the people who use the service every day (the centre's
supervisor, department clerks, the centre's IT person), signed in with their own key."""

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """The console's routes (none of them in the API contract)."""
    from app.console import dashboard, desk, registry, signin

    for module in (signin, desk, dashboard, registry):
        app.include_router(module.router)
