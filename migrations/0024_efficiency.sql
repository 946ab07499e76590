-- 效能数据: the school calendar, when an approver first opened a task, and the read model
-- the figures come from.

-- 校历: holidays, 寒暑假 and make-up working days decide where a node's clock runs; terms
-- are a period of the figures. Weekends are days off unless a 'workday' row says otherwise.
CREATE TABLE calendar_ranges (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('holiday', 'vacation', 'workday', 'term')),
    name        text NOT NULL,
    starts_on   date NOT NULL,
    ends_on     date NOT NULL,
    created_at  timestamptz NOT NULL,
    CHECK (ends_on >= starts_on)
);

-- When the assignee first opened the application page while the task was theirs: 秒批
-- (decided within seconds of opening). Not indexed: setting it is a HOT update.
ALTER TABLE tasks ADD COLUMN opened_at timestamptz;

-- The read model, refreshed by a background job from the audit log (every transition
-- writes an `application:<id>` row): nothing is added to the write path of 提交 and 通过.
CREATE TABLE stats_meta (
    id            integer PRIMARY KEY CHECK (id = 1),
    -- audit_log rows up to here are reflected.
    audit_mark    bigint NOT NULL,
    -- A rebuild in progress: applications after this id are still to be recomputed.
    rebuild_after bigint,
    -- Tasks created since then have opened_at whenever it was opened; older ones may not.
    opened_since  timestamptz NOT NULL,
    refreshed_at  timestamptz
);
INSERT INTO stats_meta (id, audit_mark, rebuild_after, opened_since)
SELECT 1, COALESCE(max(id), 0), 0, now() FROM audit_log;

-- One row per submitted application.
CREATE TABLE stats_apps (
    application_id  bigint PRIMARY KEY,
    service_id      bigint NOT NULL,
    status          text NOT NULL,
    submitted_at    timestamptz NOT NULL,
    -- When it ended (办结, 中止, 撤回); NULL while running or returned.
    ended_at        timestamptz,
    -- Working-day seconds from submission to 办结 (completed only).
    work_seconds    bigint,
    rating          smallint
);
CREATE INDEX stats_apps_submitted_idx ON stats_apps (service_id, submitted_at);
CREATE INDEX stats_apps_ended_idx ON stats_apps (service_id, ended_at) WHERE ended_at IS NOT NULL;

-- One row per approval task that was decided (通过, 退回, 中止) or is still open.
CREATE TABLE stats_tasks (
    task_id         bigint PRIMARY KEY,
    application_id  bigint NOT NULL,
    service_id      bigint NOT NULL,
    node_id         text NOT NULL,
    node_name       text NOT NULL,
    assignee_id     bigint NOT NULL,
    arrived_at      timestamptz NOT NULL,
    -- NULL while open.
    decided_at      timestamptz,
    action          text,
    due_at          timestamptz,
    -- Working-day seconds from arrival to the decision.
    work_seconds    bigint,
    overdue         boolean NOT NULL DEFAULT false,
    -- Seconds from first opening to the decision; NULL when not known (tasks before the
    -- opening was recorded).
    read_seconds    bigint,
    -- 催办 received while the task was open.
    urges          integer NOT NULL DEFAULT 0
);
CREATE INDEX stats_tasks_application_idx ON stats_tasks (application_id);
CREATE INDEX stats_tasks_service_idx ON stats_tasks (service_id, decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX stats_tasks_assignee_idx ON stats_tasks (assignee_id, decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX stats_tasks_open_idx ON stats_tasks (service_id, due_at) WHERE decided_at IS NULL;
CREATE INDEX stats_tasks_open_assignee_idx ON stats_tasks (assignee_id) WHERE decided_at IS NULL;
