-- Per-person, per-service counts of approval tasks, kept by triggers in the same
-- transaction as every task change, so 我待办的 (grouped) and the header badge read a few
-- rows instead of counting thousands of tasks for a busy approver.

-- Each task carries its application's service and whether that application is still open
-- (进行中 / 已退回), so a task change alone says how the counts move.
ALTER TABLE tasks ADD COLUMN service_id bigint REFERENCES services (id);
ALTER TABLE tasks ADD COLUMN app_open boolean;
UPDATE tasks t SET service_id = a.service_id, app_open = a.status IN ('running', 'returned')
FROM applications a WHERE a.id = t.application_id;
ALTER TABLE tasks ALTER COLUMN service_id SET NOT NULL;
ALTER TABLE tasks ALTER COLUMN app_open SET NOT NULL;

CREATE FUNCTION tasks_fill_application() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.service_id, a.status IN ('running', 'returned')
      INTO NEW.service_id, NEW.app_open
      FROM applications a WHERE a.id = NEW.application_id;
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_fill_application BEFORE INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_fill_application();

-- total: my approval tasks still pending or done; open: those whose application is still
-- open (全部 − open = 已办结); pending: waiting for me; cc_unread: 抄送给我 not yet read.
CREATE TABLE task_counts (
    assignee_id  bigint NOT NULL REFERENCES users (id),
    service_id   bigint NOT NULL REFERENCES services (id),
    total        integer NOT NULL DEFAULT 0,
    open         integer NOT NULL DEFAULT 0,
    pending      integer NOT NULL DEFAULT 0,
    cc_unread    integer NOT NULL DEFAULT 0,
    latest_at    timestamptz,
    PRIMARY KEY (assignee_id, service_id)
);

CREATE FUNCTION task_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o_total int := 0; o_open int := 0; o_pending int := 0; o_cc int := 0;
    n_total int := 0; n_open int := 0; n_pending int := 0; n_cc int := 0;
    r tasks;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'approve' AND OLD.status IN ('pending', 'done') THEN
        o_total := 1;
        o_open := OLD.app_open::int;
        o_pending := (OLD.status = 'pending')::int;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.kind = 'approve' AND NEW.status IN ('pending', 'done') THEN
        n_total := 1;
        n_open := NEW.app_open::int;
        n_pending := (NEW.status = 'pending')::int;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'cc' AND OLD.status = 'unread' THEN
        o_cc := 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.kind = 'cc' AND NEW.status = 'unread' THEN
        n_cc := 1;
    END IF;
    IF o_total = n_total AND o_open = n_open AND o_pending = n_pending AND o_cc = n_cc THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO task_counts AS c (assignee_id, service_id, total, open, pending, cc_unread, latest_at)
    VALUES (r.assignee_id, r.service_id, n_total - o_total, n_open - o_open, n_pending - o_pending,
            n_cc - o_cc, CASE WHEN n_total = 1 THEN r.created_at END)
    ON CONFLICT (assignee_id, service_id) DO UPDATE
       SET total = c.total + EXCLUDED.total,
           open = c.open + EXCLUDED.open,
           pending = c.pending + EXCLUDED.pending,
           cc_unread = c.cc_unread + EXCLUDED.cc_unread,
           latest_at = GREATEST(c.latest_at, EXCLUDED.latest_at);
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_count AFTER INSERT OR DELETE OR UPDATE OF status, app_open ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counts_apply();

-- An application opening or closing moves its tasks between 进行中 and 已办结.
CREATE FUNCTION applications_task_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tasks SET app_open = NEW.status IN ('running', 'returned')
     WHERE application_id = NEW.id AND app_open IS DISTINCT FROM (NEW.status IN ('running', 'returned'));
    RETURN NULL;
END $$;
CREATE TRIGGER applications_task_open AFTER UPDATE OF status ON applications
    FOR EACH ROW WHEN ((OLD.status IN ('running', 'returned')) IS DISTINCT FROM (NEW.status IN ('running', 'returned')))
    EXECUTE FUNCTION applications_task_open();

-- Also run by `service-hall generate` after a bulk load (keep the two alike).
INSERT INTO task_counts (assignee_id, service_id, total, open, pending, cc_unread, latest_at)
SELECT assignee_id, service_id,
       count(*) FILTER (WHERE kind = 'approve'),
       count(*) FILTER (WHERE kind = 'approve' AND app_open),
       count(*) FILTER (WHERE kind = 'approve' AND status = 'pending'),
       count(*) FILTER (WHERE kind = 'cc'),
       max(created_at) FILTER (WHERE kind = 'approve')
FROM tasks WHERE (kind = 'approve' AND status IN ('pending', 'done')) OR (kind = 'cc' AND status = 'unread')
GROUP BY assignee_id, service_id;

-- 我待办的 as a flat list, newest first, for people with thousands of open tasks.
CREATE INDEX tasks_todo_idx ON tasks (assignee_id, created_at DESC, id DESC)
    WHERE kind = 'approve' AND status = 'pending';
