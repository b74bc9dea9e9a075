-- Subscribers: subscriptions, the delivery outbox, and every attempt.

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    event_types TEXT,                   -- JSON array; NULL means every type
    description TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    secret TEXT NOT NULL,               -- whsec_...
    previous_secret TEXT,               -- still signs until previous_secret_expires_at
    previous_secret_expires_at REAL,
    failing_since REAL,                 -- start of the current unbroken run of failed attempts
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
) STRICT;

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    subscription_id TEXT NOT NULL,      -- no foreign key: the log outlives a removed subscription
    status TEXT NOT NULL,               -- pending, delivered, dead, cancelled
    origin TEXT NOT NULL,               -- event, redeliver, replay
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,               -- when the next attempt is due; NULL when none is owed
    last_status_code INTEGER,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
) STRICT;

CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, id);
CREATE INDEX deliveries_by_event ON deliveries (event_id, id);
CREATE INDEX deliveries_by_status ON deliveries (status, id);
CREATE INDEX deliveries_by_update ON deliveries (updated_at) WHERE next_attempt_at IS NULL;

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempted_at REAL NOT NULL,
    duration_ms REAL NOT NULL,
    status_code INTEGER,
    response_body TEXT,                 -- the first KiB
    error TEXT
) STRICT;

CREATE INDEX attempts_by_delivery ON attempts (delivery_id, id);
CREATE INDEX callbacks_by_time ON callbacks (received_at);
