-- Issue 16, goal 2: fewer rows and index entries per 通过. Each index left on these
-- append-only tables is named with the query that needs it.

-- 1. An in-app message written in its event's transaction is its own record of delivery:
-- until now each one also wrote an outbox row already marked delivered (a heap row and two
-- index entries that no reader used). The outbox keeps what a worker must still deliver:
-- copies for the outside channels, and notices queued for the worker (reminders, 催办).
-- A message carries the idempotency key that makes it once-only, whoever writes it; the
-- worker's messages still name their outbox row.
ALTER TABLE messages ADD COLUMN idempotency_key text;
ALTER TABLE messages ALTER COLUMN outbox_id DROP NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_outbox_id_key;
-- Keys of earlier messages lived on their outbox rows. Only the 抄送 key (`cc:app:node:person`)
-- can be written again by a later transition (after a 退回 the same node copies the same
-- person once more, and is meant to stay silent); every other key holds the application's
-- version or a transaction id. So only those are carried over.
UPDATE messages m SET idempotency_key = o.idempotency_key
FROM outbox o
WHERE o.id = m.outbox_id AND o.idempotency_key LIKE 'cc:%';
ALTER TABLE messages ADD CONSTRAINT messages_idempotency_key UNIQUE (idempotency_key);

-- 2. The 审计日志's time filter is its only reader of `at`; entries arrive in time order, so a
-- BRIN index (a few pages, no entry per row) finds a range as well as the B-tree did.
DROP INDEX audit_log_at_idx;
CREATE INDEX audit_log_at_brin ON audit_log USING brin (at);

-- 3. 流转记录 are read by application only, in id order (flow_records_application_idx); no
-- query or reference looks one up by its id, and rows are never updated or deleted. The
-- primary key index cost an entry per record, two per 通过 that ends an application.
ALTER TABLE flow_records DROP CONSTRAINT flow_records_pkey;

-- 4. 消息中心 lists a person's messages newest first and opens one by id with its owner
-- (`WHERE id = $1 AND user_id = $2`, someone else's is a 404): a primary key of
-- (user_id, id) serves both, so the separate (user_id, created_at) index goes. Messages are
-- listed by id, the order they arrived in.
ALTER TABLE messages DROP CONSTRAINT messages_pkey, ADD PRIMARY KEY (user_id, id);
DROP INDEX messages_user_idx;
