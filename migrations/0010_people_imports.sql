-- Bulk imports of people (管理后台 › 人员 › 批量导入): one row per uploaded file, from the
-- preview through the job that writes it. The file's rows are kept checked and ready to
-- write (ID numbers already as keyed hash and mask; the number itself is never stored).
CREATE TABLE people_imports (
    id               bigserial PRIMARY KEY,
    created_by       bigint NOT NULL REFERENCES users (id),
    created_at       timestamptz NOT NULL,
    file_name        text NOT NULL,
    -- preview → queued (确认导入) → running (claimed by a worker) → done | failed
    status           text NOT NULL CHECK (status IN ('preview', 'queued', 'running', 'done', 'failed')),
    total            integer NOT NULL,
    -- Counts of the preview, replaced by the job's own as it writes.
    new_count        integer NOT NULL DEFAULT 0,
    changed_count    integer NOT NULL DEFAULT 0,
    unchanged_count  integer NOT NULL DEFAULT 0,
    refused_count    integer NOT NULL DEFAULT 0,
    -- Valid rows written so far (progress).
    done_rows        integer NOT NULL DEFAULT 0,
    rows             jsonb NOT NULL,
    -- [{row, account, name, reasons}] of the refused rows, for the page and the CSV.
    refused          jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- Accounts this import created (for the bulk 激活码).
    created_accounts text[] NOT NULL DEFAULT '{}',
    claimed_at       timestamptz,
    finished_at      timestamptz,
    error            text,
    codes_issued_at  timestamptz
);
CREATE INDEX people_imports_pending_idx ON people_imports (id) WHERE status IN ('queued', 'running');
