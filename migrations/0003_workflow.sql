-- Forms and workflows: versioned definitions, applications, tasks, flow records,
-- attachments, 流水号 counters, and the notification outbox.

CREATE TABLE form_definitions (
    id          bigserial PRIMARY KEY,
    service_id  bigint NOT NULL REFERENCES services (id),
    version     integer NOT NULL,
    schema      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service_id, version)
);

CREATE TABLE workflow_definitions (
    id          bigserial PRIMARY KEY,
    service_id  bigint NOT NULL REFERENCES services (id),
    version     integer NOT NULL,
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service_id, version)
);

-- Administrators of a service (fallback approvers, may see every application of it).
CREATE TABLE service_admins (
    service_id  bigint NOT NULL REFERENCES services (id),
    user_id     bigint NOT NULL REFERENCES users (id),
    PRIMARY KEY (service_id, user_id)
);

CREATE TABLE serial_counters (
    service_code  text NOT NULL,
    year          integer NOT NULL,
    last          integer NOT NULL,
    PRIMARY KEY (service_code, year)
);

CREATE TABLE applications (
    id                bigserial PRIMARY KEY,
    service_id        bigint NOT NULL REFERENCES services (id),
    applicant_id      bigint NOT NULL REFERENCES users (id),
    form_def_id       bigint NOT NULL REFERENCES form_definitions (id),
    workflow_def_id   bigint NOT NULL REFERENCES workflow_definitions (id),
    -- 流水号, given at the first submission.
    serial_no         text UNIQUE,
    title             text NOT NULL,
    status            text NOT NULL CHECK (status IN ('draft', 'running', 'returned', 'completed', 'terminated', 'withdrawn')),
    data              jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The data as last submitted, to show approvers what changed after a return.
    submitted_data    jsonb,
    changed_fields    text[] NOT NULL DEFAULT '{}',
    state             jsonb,                 -- workflow engine state
    -- Optimistic lock: every transition bumps it; a stale version changes nothing.
    version           integer NOT NULL DEFAULT 0,
    rating            smallint CHECK (rating BETWEEN 1 AND 5),
    rating_comment    text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    submitted_at      timestamptz,
    finished_at       timestamptz
);
CREATE INDEX applications_applicant_idx ON applications (applicant_id, status, updated_at DESC);
CREATE INDEX applications_service_idx ON applications (service_id, status);

CREATE TABLE tasks (
    id              bigserial PRIMARY KEY,
    application_id  bigint NOT NULL REFERENCES applications (id),
    node_id         text NOT NULL,
    node_name       text NOT NULL,
    assignee_id     bigint NOT NULL REFERENCES users (id),
    kind            text NOT NULL DEFAULT 'approve' CHECK (kind IN ('approve', 'cc')),
    status          text NOT NULL CHECK (status IN ('pending', 'done', 'cancelled', 'read', 'unread')),
    -- What the assignee did (approve / return / terminate / transfer / add_signer), or
    -- for a cancelled 或签 task who decided instead.
    action          text,
    decided_by      bigint REFERENCES users (id),
    transferred_to  bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL,
    -- created_at + the node's time limit: overdue after this (reminders, 已超时).
    due_at          timestamptz,
    -- Reminders sent for an overdue task (one per time-limit period), and whether the
    -- node escalates to the assignee's 部门负责人.
    reminded_at     timestamptz,
    reminders       integer NOT NULL DEFAULT 0,
    escalate        boolean NOT NULL DEFAULT false,
    acted_at        timestamptz
);
CREATE INDEX tasks_due_idx ON tasks (due_at) WHERE status = 'pending' AND due_at IS NOT NULL;
CREATE INDEX tasks_assignee_idx ON tasks (assignee_id, status, created_at DESC);
CREATE INDEX tasks_application_idx ON tasks (application_id);
-- One open task per person per node.
CREATE UNIQUE INDEX tasks_one_open ON tasks (application_id, node_id, assignee_id) WHERE status = 'pending';

-- 流转记录: append-only.
CREATE TABLE flow_records (
    id              bigserial PRIMARY KEY,
    application_id  bigint NOT NULL REFERENCES applications (id),
    node_id         text NOT NULL,
    node_name       text NOT NULL,
    actor_id        bigint REFERENCES users (id),
    action          text NOT NULL,
    comment         text NOT NULL DEFAULT '',
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    at              timestamptz NOT NULL
);
CREATE INDEX flow_records_application_idx ON flow_records (application_id, id);

CREATE TABLE urges (
    application_id  bigint NOT NULL REFERENCES applications (id),
    node_id         text NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX urges_idx ON urges (application_id, node_id, at DESC);

-- Files live in the database by default: nothing outside the backup.
CREATE TABLE attachments (
    id              bigserial PRIMARY KEY,
    application_id  bigint NOT NULL REFERENCES applications (id),
    field_key       text NOT NULL,
    file_name       text NOT NULL,
    content_type    text NOT NULL,
    size            bigint NOT NULL,
    sha256          text NOT NULL,
    data            bytea NOT NULL,
    uploaded_by     bigint NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL
);
CREATE INDEX attachments_application_idx ON attachments (application_id);

-- Notifications to deliver, written in the same transaction as the event.
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    channel          text NOT NULL DEFAULT 'inapp',
    recipient_id     bigint NOT NULL REFERENCES users (id),
    application_id   bigint REFERENCES applications (id),
    kind             text NOT NULL,
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    failed_at        timestamptz,
    last_error       text,
    -- A worker delivering to an outside system holds the row until then; if it dies, the
    -- lease runs out and another worker delivers it (at least once, same idempotency key).
    lease_until      timestamptz
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

INSERT INTO roles (code, name, description) VALUES
    ('deputy_secretary', '学院副书记',       '审批本学院学生的较长假期等事项'),
    ('intl_officer',     '国际交流处审核人', '审核因公出国(境)申请'),
    ('school_leader',    '校领导',           '审批重大事项'),
    ('hr_officer',       '人事处经办人',     '办理教职工入校等人事事项，接收相关抄送'),
    ('seal_keeper',      '印章管理员',       '办理公章使用'),
    ('org_officer',      '组织处经办人',     '入校手续：机构编制'),
    ('finance_officer',  '财务处经办人',     '入校手续：工资关系'),
    ('union_officer',    '工会经办人',       '入校手续：会员关系'),
    ('security_officer', '保卫处经办人',     '入校手续：户籍与门禁'),
    ('medical_officer',  '医政处经办人',     '入校手续：医疗关系'),
    ('nic_officer',      '网络信息中心经办人', '入校手续：OA账号与一卡通')
ON CONFLICT (code) DO NOTHING;

-- Definitions are versioned, never edited: running applications keep theirs, and the app
-- caches them by id.
CREATE FUNCTION definitions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'definitions are immutable: add a new version instead';
END;
$$;
CREATE TRIGGER form_definitions_immutable BEFORE UPDATE ON form_definitions
    FOR EACH ROW EXECUTE FUNCTION definitions_immutable();
CREATE TRIGGER workflow_definitions_immutable BEFORE UPDATE ON workflow_definitions
    FOR EACH ROW EXECUTE FUNCTION definitions_immutable();

-- 消息中心: in-app messages, delivered from the outbox (one per outbox row).
CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    outbox_id       bigint NOT NULL UNIQUE REFERENCES outbox (id),
    user_id         bigint NOT NULL REFERENCES users (id),
    application_id  bigint REFERENCES applications (id),
    kind            text NOT NULL,
    text            text NOT NULL,
    link            text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    read_at         timestamptz
);
CREATE INDEX messages_user_idx ON messages (user_id, created_at DESC);
CREATE INDEX messages_unread_idx ON messages (user_id) WHERE read_at IS NULL;

-- Channels each person wants besides in-app messages (个人设置). No row = the defaults.
CREATE TABLE notify_prefs (
    user_id  bigint PRIMARY KEY REFERENCES users (id),
    sms      boolean NOT NULL DEFAULT true,
    email    boolean NOT NULL DEFAULT false,
    wecom    boolean NOT NULL DEFAULT true
);
