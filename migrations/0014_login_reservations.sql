-- A password check reserves its attempt before hashing (a failure until settled), so
-- concurrent checks on one account or from one address see each other and N requests at
-- once verify at most the limits.
ALTER TABLE login_attempts ADD COLUMN pending boolean NOT NULL DEFAULT false;

-- Per-person request budgets (the person picker's search), shared by every instance: one
-- row per fixed window, spent by one atomic upsert; finished windows are pruned hourly.
CREATE TABLE request_budgets (
    scope        text NOT NULL,
    who          bigint NOT NULL,
    window_start timestamptz NOT NULL,
    used         integer NOT NULL,
    PRIMARY KEY (scope, who, window_start)
);
CREATE INDEX request_budgets_window_idx ON request_budgets (window_start);
