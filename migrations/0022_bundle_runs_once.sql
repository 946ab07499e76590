-- A 一事联办 form carries a one-time key: the same form posted twice (a double click, a
-- retried request) starts its applications once, and the second post lands on the run
-- the first one made.
ALTER TABLE bundle_runs ADD COLUMN submission_key uuid;
CREATE UNIQUE INDEX bundle_runs_once ON bundle_runs (applicant_id, submission_key);
