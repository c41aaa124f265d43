"""The floor for single-event ingest: FastAPI + asyncpg, one INSERT per request, no auth, no checks.

Run by bench/ingest.py as `uvicorn bench.minimal_app:app` with BENCH_DATABASE_URL and
BENCH_CLIENT_ID set."""

import hashlib
import os
import uuid
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

INSERT = """
INSERT INTO rating (client_id, event_id, payload_hash, channel, department_code, window_no,
                    level, tags, rater_type, rated_at, assess_number)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'anonymous', $9, 1)
RETURNING id
"""


@asynccontextmanager
async def lifespan(app: FastAPI):
    dsn = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    app.state.pool = await asyncpg.create_pool(dsn, min_size=4, max_size=20)
    app.state.client_id = uuid.UUID(os.environ["BENCH_CLIENT_ID"])
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/ratings")
async def post_rating(request: Request):
    event = await request.json()
    async with request.app.state.pool.acquire() as conn:
        rating_id = await conn.fetchval(
            INSERT,
            request.app.state.client_id,
            event["event_id"],
            hashlib.sha256(event["event_id"].encode()).digest(),
            event.get("channel", "window_device"),
            event["department_code"],
            event.get("window_no"),
            event["level"],
            event.get("tags", []),
            datetime.fromisoformat(event["rated_at"]),
        )
    return JSONResponse({"id": rating_id}, status_code=201)
