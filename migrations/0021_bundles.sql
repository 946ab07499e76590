-- 一事联办 (issue 17.11): a bundle starts the applications of several services from one
-- form, each department keeping its own service, form and workflow. A run is one such
-- start: its applications are submitted in one transaction and listed together.
CREATE TABLE bundles (
    id         bigserial PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    name       text NOT NULL,
    summary    text NOT NULL DEFAULT '',
    status     text NOT NULL DEFAULT 'published' CHECK (status IN ('draft', 'published')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bundle_members (
    bundle_id  bigint NOT NULL REFERENCES bundles (id) ON DELETE CASCADE,
    service_id bigint NOT NULL REFERENCES services (id),
    position   integer NOT NULL,
    PRIMARY KEY (bundle_id, service_id)
);

CREATE TABLE bundle_runs (
    id           bigserial PRIMARY KEY,
    bundle_id    bigint NOT NULL REFERENCES bundles (id),
    applicant_id bigint NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL
);
CREATE INDEX bundle_runs_applicant_idx ON bundle_runs (applicant_id, id DESC);

-- Kept apart from `applications` (the write path's hottest table gains no column).
CREATE TABLE bundle_run_apps (
    run_id         bigint NOT NULL REFERENCES bundle_runs (id),
    application_id bigint NOT NULL UNIQUE,
    position       integer NOT NULL,
    PRIMARY KEY (run_id, application_id)
);
