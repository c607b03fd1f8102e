"""HubSpot's error bodies, raised as ApiError and rendered by the WSGI layer.

Every error HubSpot returns carries `status: "error"`, a `message`, a `correlationId` (a
UUID the support team can trace) and usually a `category`
(https://developers.hubspot.com/docs/api-reference/error-handling). Rate-limit replies
use `errorType` and `policyName` instead of `category`.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from typing import Any


class ApiError(Exception):
    """An HTTP error reply: status code, JSON body and extra headers."""

    def __init__(self, status: int, body: dict[str, Any] | None, headers: list[tuple[str, str]] | None = None):
        super().__init__(f"{status}: {body.get('message') if body else ''}")
        self.status = status
        self.body = body
        self.headers = headers or []


class CorrelationIds:
    """Seeded UUIDs, so two runs with the same seed log the same correlation ids."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"hubspot-correlation:{seed}")
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def error_body(correlation_id: str, message: str, category: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": correlation_id}
    if category is not None:
        body["category"] = category
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


class ErrorFactory:
    """Builds the ApiErrors the handlers raise, each with a fresh correlation id."""

    def __init__(self, ids: CorrelationIds) -> None:
        self.ids = ids

    def make(self, status: int, message: str, category: str | None, **extra: Any) -> ApiError:
        return ApiError(status, error_body(self.ids.next(), message, category, **extra))

    def validation(self, message: str, **extra: Any) -> ApiError:
        return self.make(400, message, "VALIDATION_ERROR", **extra)

    def not_found(self, message: str = "Object not found.  objectId are usually numeric.") -> ApiError:
        return self.make(404, message, "OBJECT_NOT_FOUND")

    def invalid_values(self, problems: list[dict[str, Any]]) -> ApiError:
        """400 for bad property values. HubSpot embeds the per-property results in the
        message as JSON text (fs `Property values were not valid: [{"isValid":false,...`)."""
        shown = [
            {"isValid": False, "message": p["message"], "error": p["error"], "name": p["name"],
             "localizedErrorMessage": p["message"]}
            for p in problems
        ]
        return self.validation(f"Property values were not valid: {json.dumps(shown, separators=(',', ':'))}")

    def batch_error(self, category: str, message: str, ids: list[str], **extra: Any) -> dict[str, Any]:
        """One entry of a 207 reply's `errors[]` (no correlation id there)."""
        entry: dict[str, Any] = {"status": "error", "category": category, "message": message}
        entry.update(extra)
        entry["context"] = {"ids": ids}
        return entry
