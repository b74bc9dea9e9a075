-- Named queries for the SQLite store. Each block runs inside a transaction
-- opened by the connector; state transitions are guarded in the UPDATE itself.

-- name: meta_insert
INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?);

-- name: meta_get
SELECT value FROM meta WHERE key = ?;

-- name: task_by_idempotency_key
SELECT id, request_hash FROM tasks WHERE idempotency_key = ?;

-- name: task_insert
INSERT INTO tasks (
    id, provider, status, prompt, aspect_ratio, quality, image_urls, result_urls,
    metadata, callback_mode, created_at, updated_at, deadline_at,
    idempotency_key, request_hash, submit_at
) VALUES (?, ?, 'queued', ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?);

-- name: task_by_upstream_id
SELECT id FROM tasks WHERE provider = ? AND provider_task_id = ?;

-- name: task_get
-- The Task's columns in sqlite_store.TASK_COLUMNS order (read by position), then poll_at.
SELECT id, provider, status, prompt, aspect_ratio, quality, image_urls, created_at, updated_at,
    provider_task_id, result_urls, error_code, error_message, metadata, completed_at, event_seq,
    callback_mode, poll_at
FROM tasks WHERE id = ?;

-- name: task_update_state
-- Guarded by event_seq: only the writer that read this version may change it.
-- A task that becomes final owes no create attempt and no status query any more.
-- Numbered parameters, bound from a tuple (sqlite_store._write_state): ?1 provider_task_id,
-- ?2 status, ?3 result_urls, ?4 error_code, ?5 error_message, ?6 updated_at,
-- ?7 completed_at, ?8 event_seq, ?9 final, ?10 id, ?11 the event_seq that was read.
UPDATE tasks SET
    provider_task_id = ?1, status = ?2, result_urls = ?3, error_code = ?4,
    error_message = ?5, updated_at = ?6, completed_at = ?7, event_seq = ?8,
    submit_at = CASE WHEN ?9 THEN NULL ELSE submit_at END,
    submit_inflight = CASE WHEN ?9 THEN 0 ELSE submit_inflight END,
    poll_at = CASE WHEN ?9 THEN NULL ELSE poll_at END
WHERE id = ?10 AND event_seq = ?11;

-- name: task_submit_settled
UPDATE tasks SET submit_at = NULL, submit_inflight = 0, poll_at = ?, poll_attempts = 0,
    last_error = NULL
WHERE id = ? AND status NOT IN ('completed', 'failed');

-- name: task_submit_due
SELECT * FROM tasks WHERE submit_at IS NOT NULL AND submit_at <= ? ORDER BY submit_at LIMIT ?;

-- name: task_submit_claim
UPDATE tasks SET submit_at = ?, submit_attempts = submit_attempts + 1, submit_inflight = 1
WHERE id = ?;

-- name: task_submit_retry
UPDATE tasks SET submit_at = ?, submit_inflight = ?, last_error = ?
WHERE id = ? AND status = 'queued';

-- name: task_poll_due
-- INDEXED BY: left alone, the planner takes tasks_by_provider and reads (and sorts)
-- every task the provider ever had, ~1.5 ms per claim at 15k tasks (B4).
SELECT * FROM tasks INDEXED BY tasks_poll_due
WHERE poll_at IS NOT NULL AND poll_at <= ? AND provider = ?
ORDER BY poll_at LIMIT ?;

-- name: task_poll_claim
UPDATE tasks SET poll_at = ?, poll_attempts = poll_attempts + 1 WHERE id = ?;

-- name: task_poll_reschedule
UPDATE tasks SET poll_at = ?, last_error = ?
WHERE id = ? AND status NOT IN ('completed', 'failed');

-- name: task_recent_durations
-- What adaptive polling learns from at start; newest first along tasks_by_provider.
SELECT completed_at - created_at FROM tasks
WHERE provider = ? AND status = 'completed' AND completed_at IS NOT NULL
ORDER BY id DESC LIMIT ?;

-- name: next_submit_due
SELECT MIN(submit_at) FROM tasks WHERE submit_at IS NOT NULL;

-- name: next_poll_due
SELECT MIN(poll_at) FROM tasks WHERE poll_at IS NOT NULL;

-- name: event_insert
INSERT INTO events (id, task_id, type, sequence, created_at, body) VALUES (?, ?, ?, ?, ?, ?);

-- name: callback_insert
INSERT INTO callbacks (id, provider, task_id, received_at, body, verdict) VALUES (?, ?, ?, ?, ?, ?);

-- Subscribers ---------------------------------------------------------------

-- name: subscription_insert
INSERT INTO subscriptions (id, url, event_types, description, enabled, secret, created_at, updated_at)
VALUES (?, ?, ?, ?, 1, ?, ?, ?);

-- name: subscription_get
SELECT * FROM subscriptions WHERE id = ?;

-- name: subscription_count
SELECT count(*) FROM subscriptions;

-- name: subscription_list
SELECT * FROM subscriptions ORDER BY id DESC;

-- name: subscription_delete
DELETE FROM subscriptions WHERE id = ?;

-- name: subscription_rotate
UPDATE subscriptions SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?,
    updated_at = ?
WHERE id = ?;

-- name: subscription_disable
UPDATE subscriptions SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND enabled = 1;

-- name: subscription_failing
-- Written only when it changes: most attempts leave it as it was (NULL while deliveries succeed).
UPDATE subscriptions SET failing_since = ?1 WHERE id = ?2 AND failing_since IS NOT ?1;

-- name: subscriptions_matching
-- Enabled subscriptions that want this event type: the outbox's fan-out.
SELECT id FROM subscriptions
WHERE enabled = 1
  AND (event_types IS NULL OR EXISTS (SELECT 1 FROM json_each(subscriptions.event_types) WHERE value = ?));

-- The writer keeps subscriptions_matching in memory (sqlite_webhooks.Subscribers);
-- these TEMP triggers, on the writer's connection only, tell it when to forget.
-- name: subscriptions_watch_insert
CREATE TEMP TRIGGER IF NOT EXISTS subscriptions_watch_insert AFTER INSERT ON main.subscriptions
BEGIN SELECT receiver_subscriptions_changed(); END;

-- name: subscriptions_watch_update
CREATE TEMP TRIGGER IF NOT EXISTS subscriptions_watch_update AFTER UPDATE ON main.subscriptions
BEGIN SELECT receiver_subscriptions_changed(); END;

-- name: subscriptions_watch_delete
CREATE TEMP TRIGGER IF NOT EXISTS subscriptions_watch_delete AFTER DELETE ON main.subscriptions
BEGIN SELECT receiver_subscriptions_changed(); END;

-- name: deliveries_end_for_subscription
-- A disabled or removed subscription owes nothing more; what it missed stays replayable.
UPDATE deliveries SET status = ?, next_attempt_at = NULL, last_error = ?, updated_at = ?
WHERE subscription_id = ? AND status = 'pending';

-- name: delivery_insert
INSERT INTO deliveries (id, event_id, subscription_id, status, origin, next_attempt_at, created_at, updated_at)
VALUES (?, ?, ?, 'pending', ?, ?, ?, ?);

-- name: delivery_due
-- Positional (see claim_deliveries); the subscription is read once per claim, not per row.
SELECT d.id, d.event_id, d.attempts, d.created_at, d.subscription_id, e.body
FROM deliveries d
JOIN events e ON e.id = d.event_id
WHERE d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= ?
ORDER BY d.next_attempt_at
LIMIT ?;

-- name: delivery_claim
UPDATE deliveries SET next_attempt_at = ? WHERE id = ?;

-- name: delivery_release
UPDATE deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending';

-- name: delivery_record
UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,
    last_status_code = ?, last_error = ?, updated_at = ?
WHERE id = ? AND status = 'pending';

-- name: delivery_recorded
-- Whether delivery_record moved this delivery just now (see _record_attempts).
SELECT 1 FROM deliveries WHERE id = ? AND attempts = ? AND updated_at = ?;

-- name: attempt_insert
INSERT INTO attempts (delivery_id, attempted_at, duration_ms, status_code, response_body, error)
VALUES (?, ?, ?, ?, ?, ?);

-- name: delivery_get
SELECT * FROM deliveries WHERE id = ?;

-- name: attempts_for_delivery
SELECT * FROM attempts WHERE delivery_id = ? ORDER BY id;

-- name: next_delivery_due
SELECT MIN(next_attempt_at) FROM deliveries WHERE next_attempt_at IS NOT NULL;

-- name: due_counts
SELECT
    (SELECT COUNT(*) FROM tasks WHERE submit_at IS NOT NULL AND submit_at <= :now),
    (SELECT COUNT(*) FROM tasks WHERE poll_at IS NOT NULL AND poll_at <= :now),
    (SELECT COUNT(*) FROM deliveries WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= :now);

-- name: event_get
SELECT * FROM events WHERE id = ?;

-- name: events_in_window
SELECT id, type FROM events WHERE created_at >= ? AND created_at < ? ORDER BY id;

-- name: callback_get
SELECT * FROM callbacks WHERE id = ?;

-- Retention ---------------------------------------------------------------

-- name: prune_settled_deliveries
-- Deliveries that owe nothing and whose last change is old, with their attempts.
DELETE FROM deliveries WHERE next_attempt_at IS NULL AND updated_at < ?;

-- name: prune_events
-- Old events, unless a delivery of theirs is still owed.
DELETE FROM events
WHERE created_at < ?
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.next_attempt_at IS NOT NULL);

-- name: prune_callbacks
DELETE FROM callbacks WHERE received_at < ?;
