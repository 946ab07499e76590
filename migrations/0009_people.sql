-- People and organisation in 管理后台.

-- A department can be retired (kept for old records, offered nowhere new).
ALTER TABLE departments ADD COLUMN active boolean NOT NULL DEFAULT true;

-- One meaning per word: a person an administrator switched off is 'disabled' (停用);
-- "locked" is only the temporary sign-in lock after failed passwords, which lives in
-- `lockouts` alone. The old 'locked' status meant 停用 (nothing but tests wrote it).
ALTER TABLE users DROP CONSTRAINT users_status_check;
UPDATE users SET status = 'disabled' WHERE status = 'locked';
ALTER TABLE users ADD CONSTRAINT users_status_check
    CHECK (status IN ('inactive', 'active', 'disabled'));
-- The people list filters and sorts on these.
CREATE INDEX users_status_account_idx ON users (status, account);
