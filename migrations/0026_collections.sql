-- 填报任务: data collected from a group with a form made in the form designer.

CREATE TABLE collections (
    id                  bigserial PRIMARY KEY,
    title               text NOT NULL,
    explanation         text NOT NULL DEFAULT '',
    -- A forms::FormSchema, edited by the form designer until the task is published.
    form                jsonb NOT NULL DEFAULT '{"fields": []}',
    -- Bumped by every change, so two editors cannot overwrite each other unseen.
    revision            integer NOT NULL DEFAULT 1,
    owner_id            bigint NOT NULL REFERENCES users (id),
    -- The group as chosen: {"departments": [ids, with their sub-departments],
    -- "kinds": ["student", …], "roles": ["code", …], "accounts": ["学号/工号", …]}.
    target              jsonb NOT NULL DEFAULT '{}',
    opens_at            timestamptz NOT NULL,
    closes_at           timestamptz NOT NULL,
    late_allowed        boolean NOT NULL DEFAULT false,
    editable            boolean NOT NULL DEFAULT true,
    needs_confirmation  boolean NOT NULL DEFAULT false,
    -- Reminders to those who have not filled, this many days before the close.
    remind_days         integer[] NOT NULL DEFAULT '{3,1}',
    -- NULL while the owner prepares it; the group is fixed when it is published.
    published_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (closes_at > opens_at)
);
CREATE INDEX collections_owner_idx ON collections (owner_id, created_at DESC);
CREATE INDEX collections_open_idx ON collections (closes_at) WHERE published_at IS NOT NULL;

-- One row per person of the group: their response and where it stands.
CREATE TABLE collection_members (
    collection_id  bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    user_id        bigint NOT NULL REFERENCES users (id),
    -- The person's department when the task was published (counts and 部门负责人 scope).
    department_id  bigint REFERENCES departments (id),
    state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'draft', 'submitted', 'confirmed')),
    data           jsonb,
    version        integer NOT NULL DEFAULT 0,
    submitted_at   timestamptz,
    updated_at     timestamptz,
    -- Submitted after the close (allowed only where late filling is).
    late           boolean NOT NULL DEFAULT false,
    confirmed_by   bigint REFERENCES users (id),
    confirmed_at   timestamptz,
    -- The day of the last 催办: at most one a day per person.
    urged_on       date,
    PRIMARY KEY (collection_id, user_id)
);
CREATE INDEX collection_members_user_idx ON collection_members (user_id);
CREATE INDEX collection_members_dept_idx ON collection_members (collection_id, department_id);

-- Reminders sent before the close, once per task and number of days.
CREATE TABLE collection_reminders (
    collection_id  bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    days_before    integer NOT NULL,
    sent_at        timestamptz NOT NULL,
    PRIMARY KEY (collection_id, days_before)
);

-- Files of responses (attachment fields), like an application's attachments.
CREATE TABLE collection_files (
    id             bigserial PRIMARY KEY,
    collection_id  bigint NOT NULL,
    user_id        bigint NOT NULL,
    field_key      text NOT NULL,
    file_name      text NOT NULL,
    content_type   text NOT NULL,
    size           bigint NOT NULL,
    sha256         text NOT NULL,
    data           bytea NOT NULL,
    created_at     timestamptz NOT NULL,
    FOREIGN KEY (collection_id, user_id) REFERENCES collection_members (collection_id, user_id) ON DELETE CASCADE
);
CREATE INDEX collection_files_member_idx ON collection_files (collection_id, user_id);
