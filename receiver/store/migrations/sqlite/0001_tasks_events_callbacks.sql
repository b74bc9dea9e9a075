-- Tasks, the event log and the callback inbox. Times are unix seconds (REAL).

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,                -- time-ordered, so ORDER BY id DESC is newest first
    provider TEXT NOT NULL,
    provider_task_id TEXT,
    status TEXT NOT NULL,
    prompt TEXT NOT NULL,
    aspect_ratio TEXT NOT NULL,
    quality TEXT NOT NULL,
    image_urls TEXT NOT NULL,           -- JSON array
    result_urls TEXT NOT NULL,          -- JSON array
    error_code TEXT,
    error_message TEXT,
    metadata TEXT,                      -- JSON object, or NULL
    callback_mode INTEGER NOT NULL,
    event_seq INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    completed_at REAL,
    deadline_at REAL NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_hash TEXT,
    -- submitter: when the next create attempt is due (NULL once the create is settled)
    submit_at REAL,
    submit_attempts INTEGER NOT NULL DEFAULT 0,
    submit_inflight INTEGER NOT NULL DEFAULT 0,   -- a create was sent and its answer not yet recorded
    -- poller: when the next status query is due (NULL when none is owed)
    poll_at REAL,
    poll_attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT                     -- the last transient upstream error, for operators
) STRICT;

CREATE INDEX tasks_submit_due ON tasks (submit_at) WHERE submit_at IS NOT NULL;
CREATE INDEX tasks_poll_due ON tasks (poll_at) WHERE poll_at IS NOT NULL;
CREATE INDEX tasks_by_status ON tasks (status, id);
CREATE INDEX tasks_by_provider ON tasks (provider, id);
CREATE UNIQUE INDEX tasks_upstream ON tasks (provider, provider_task_id)
    WHERE provider_task_id IS NOT NULL;

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    type TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    created_at REAL NOT NULL,
    body BLOB NOT NULL,                 -- the exact JSON every delivery sends
    UNIQUE (task_id, sequence)
) STRICT;

CREATE INDEX events_by_type ON events (type, id);
CREATE INDEX events_by_time ON events (created_at);

CREATE TABLE callbacks (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    received_at REAL NOT NULL,
    body BLOB NOT NULL,                 -- as received
    verdict TEXT NOT NULL               -- what reconciliation made of it
) STRICT;

CREATE INDEX callbacks_by_task ON callbacks (task_id, id);
CREATE INDEX callbacks_by_provider ON callbacks (provider, id);
