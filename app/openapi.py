"""The published contract: openapi/openapi.json is generated from the app."""

import json

from app.config import Settings


def openapi_json() -> str:
    from app.main import create_app

    app = create_app(Settings(database_url="postgresql+asyncpg://unused@localhost/unused"))
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"
