"""The event a subscriber receives, rendered once when the state change is written.

The stored bytes are what every delivery attempt sends, so a redelivery is
byte-for-byte the original and its signature covers exactly what was stored.
"""

from __future__ import annotations

import orjson

from receiver.core.task import Task, task_json
from receiver.core.times import to_rfc3339


def event_body(
    event_id: str, event_type: str, sequence: int, created_at: float, task: Task
) -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": to_rfc3339(created_at),
            "sequence": sequence,
            "data": {"task": task_json(task)},
        }
    )
