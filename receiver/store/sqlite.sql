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
SELECT * FROM tasks WHERE id = ?;

-- name: task_update_state
-- Guarded by event_seq: only the writer that read this version may change it.
UPDATE tasks SET
    provider_task_id = ?, status = ?, result_urls = ?, error_code = ?, error_message = ?,
    updated_at = ?, completed_at = ?, event_seq = ?
WHERE id = ? AND event_seq = ?;

-- name: task_end_work
-- A final task owes no create attempt and no status query.
UPDATE tasks SET submit_at = NULL, submit_inflight = 0, poll_at = NULL WHERE id = ?;

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
SELECT * FROM tasks
WHERE poll_at IS NOT NULL AND poll_at <= ? AND provider = ?
ORDER BY poll_at LIMIT ?;

-- name: task_poll_claim
UPDATE tasks SET poll_at = ?, poll_attempts = poll_attempts + 1 WHERE id = ?;

-- name: task_poll_reschedule
UPDATE tasks SET poll_at = ?, last_error = ?
WHERE id = ? AND status NOT IN ('completed', 'failed');

-- name: next_submit_due
SELECT MIN(submit_at) FROM tasks WHERE submit_at IS NOT NULL;

-- name: next_poll_due
SELECT MIN(poll_at) FROM tasks WHERE poll_at IS NOT NULL;

-- name: event_insert
INSERT INTO events (id, task_id, type, sequence, created_at, body) VALUES (?, ?, ?, ?, ?, ?);

-- name: callback_insert
INSERT INTO callbacks (id, provider, task_id, received_at, body, verdict) VALUES (?, ?, ?, ?, ?, ?);
