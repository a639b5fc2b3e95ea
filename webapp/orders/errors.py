"""The error every refused work-order action raises."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# -- errors ---------------------------------------------------------------------------
@dataclass
class WorkflowError(Exception):
    """A refused action; ``status`` is the HTTP status to answer with."""

    status: int
    code: str
    message: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    # More machine-readable detail for the API's error body.
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message, **self.extra}
        if self.changes:
            body["changes"] = self.changes
        return body


def invalid(message: str) -> WorkflowError:
    return WorkflowError(400, "invalid", message)


def conflict(message: str, code: str = "illegal_transition") -> WorkflowError:
    return WorkflowError(409, code, message)
