"""`segsync serve`: the real-time API over the last successful cycle's snapshot.

snapshot (the published columns and their index), live (the models that answer in a
request), record (one customer's JSON), service (look-ups, scoring, events; no HTTP),
access (API keys and rate limits), guard (body limit, metrics, no stack traces), app (the
FastAPI routes), server (uvicorn, alone or beside the daemon). Only `app` and `server`
need the `segsync[serve]` extra; the cycle publishes snapshots without it.
"""
