-- 常用系统 (issue 17.11): how often each person opened each campus system from the hall,
-- so 首页 lists the ones they use most. One row per person and system, counted up.
CREATE TABLE system_opens (
    user_id   bigint NOT NULL REFERENCES users (id),
    system_id bigint NOT NULL REFERENCES campus_systems (id) ON DELETE CASCADE,
    opens     integer NOT NULL DEFAULT 1,
    last_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, system_id)
);
