-- 常用系统 follows what a person uses now: each open counts 1, halving every 30 days
-- (`score` as of `last_at`), so a system opened daily this month passes one opened often
-- last year. Existing counts start as scores at their last open.
ALTER TABLE system_opens ADD COLUMN score double precision;
UPDATE system_opens SET score = opens;
ALTER TABLE system_opens ALTER COLUMN score SET NOT NULL, ALTER COLUMN score SET DEFAULT 1;
