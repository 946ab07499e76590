-- Issue 16, goal 2, found with `cargo bench --bench wal` (each event's WAL records by kind):
-- records that lock rows rather than change them.

-- 1. Every task change moved its counts with INSERT … ON CONFLICT DO UPDATE, which locks the
-- existing row first (a WAL record of its own) and then updates it. The row exists for all
-- but a person's first task of a service: update it, and insert only when there was none
-- (still ON CONFLICT, for two first tasks at once).
CREATE OR REPLACE FUNCTION task_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
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
    UPDATE task_counts c
       SET total = c.total + (n_total - o_total),
           open = c.open + (n_open - o_open),
           pending = c.pending + (n_pending - o_pending),
           cc_unread = c.cc_unread + (n_cc - o_cc),
           latest_at = GREATEST(c.latest_at, CASE WHEN n_total = 1 THEN r.created_at END)
     WHERE c.assignee_id = r.assignee_id AND c.service_id = r.service_id;
    IF NOT FOUND THEN
        INSERT INTO task_counts AS c (assignee_id, service_id, total, open, pending, cc_unread, latest_at)
        VALUES (r.assignee_id, r.service_id, n_total - o_total, n_open - o_open, n_pending - o_pending,
                n_cc - o_cc, CASE WHEN n_total = 1 THEN r.created_at END)
        ON CONFLICT (assignee_id, service_id) DO UPDATE
           SET total = c.total + EXCLUDED.total,
               open = c.open + EXCLUDED.open,
               pending = c.pending + EXCLUDED.pending,
               cc_unread = c.cc_unread + EXCLUDED.cc_unread,
               latest_at = GREATEST(c.latest_at, EXCLUDED.latest_at);
    END IF;
    RETURN NULL;
END $$;

-- 2. As migration 0006 did for the append-only records: people are never deleted (they are
-- deactivated), and an application with tasks is never deleted (only drafts are, and they
-- have none). These foreign keys protected nothing, yet each check share-locked the row it
-- named — the applicant, the assignee, the application — a WAL record each and a multixact
-- when two transactions did it at once: three per 提交.
ALTER TABLE applications DROP CONSTRAINT applications_applicant_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_application_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_assignee_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_decided_by_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_transferred_to_fkey;

-- 3. Likewise the keys from applications to their service and its definitions: three more
-- locks per 提交, all on the same few rows for everyone applying for one service (a
-- multixact each time two overlap). A service that never had an application may be
-- deleted, and these keys held off a first application submitted at that moment; the
-- delete now takes a SHARE lock on applications instead (admin::services::status), which
-- waits for submissions in flight and holds off new ones for the moment the delete takes.
ALTER TABLE applications DROP CONSTRAINT applications_service_id_fkey;
ALTER TABLE applications DROP CONSTRAINT applications_form_def_id_fkey;
ALTER TABLE applications DROP CONSTRAINT applications_workflow_def_id_fkey;
