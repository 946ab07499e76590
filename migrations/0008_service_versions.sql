-- Versions of a service's form and workflow, and the working copy the designers edit.
--
-- A published version pairs one form and one workflow definition (both immutable rows;
-- a rollback or an unchanged half reuses an existing row). The current version of a
-- service is its highest number: rolling back publishes an earlier pair as a new number.
-- Applications keep the definition ids they started with, so a publish never touches a
-- running application.
CREATE TABLE service_versions (
    id               bigserial PRIMARY KEY,
    service_id       bigint NOT NULL REFERENCES services (id),
    number           integer NOT NULL CHECK (number > 0),
    form_def_id      bigint NOT NULL REFERENCES form_definitions (id),
    workflow_def_id  bigint NOT NULL REFERENCES workflow_definitions (id),
    published_at     timestamptz NOT NULL,
    published_by     bigint REFERENCES users (id),
    note             text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    -- A rollback: the number of the version republished.
    restored_from    integer,
    UNIQUE (service_id, number)
);

-- At most one working copy per service. `revision` is the optimistic lock of the
-- designers: a save names the revision it started from, a stale one changes nothing.
CREATE TABLE service_drafts (
    service_id    bigint PRIMARY KEY REFERENCES services (id),
    form          jsonb NOT NULL,
    workflow      jsonb NOT NULL,
    -- The published version number the draft started from (NULL: a new service).
    base_number   integer,
    revision      integer NOT NULL DEFAULT 1,
    updated_by    bigint REFERENCES users (id),
    updated_at    timestamptz NOT NULL
);

-- Every service that has definitions gets its latest pair as version 1.
INSERT INTO service_versions (service_id, number, form_def_id, workflow_def_id, published_at)
SELECT s.id, 1,
       (SELECT f.id FROM form_definitions f WHERE f.service_id = s.id ORDER BY f.version DESC LIMIT 1),
       (SELECT w.id FROM workflow_definitions w WHERE w.service_id = s.id ORDER BY w.version DESC LIMIT 1),
       now()
FROM services s
WHERE EXISTS (SELECT 1 FROM form_definitions f WHERE f.service_id = s.id)
  AND EXISTS (SELECT 1 FROM workflow_definitions w WHERE w.service_id = s.id);

-- Every request's session query asks whether the person administers any service.
CREATE INDEX service_admins_user_idx ON service_admins (user_id);
