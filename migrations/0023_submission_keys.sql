-- A new application's form carries a one-time key: 提交 posted twice (a double click, a
-- retried request) makes one application, and the second post is sent to it. One row per
-- 提交 of a new application from the form; a key is a person's own.
CREATE TABLE submission_keys (
    user_id        bigint NOT NULL,
    key            uuid NOT NULL,
    application_id bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
