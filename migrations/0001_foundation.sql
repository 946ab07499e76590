-- Foundation: departments, users, roles, audit log, sign-in throttling, app metadata.

CREATE TABLE departments (
    id          bigserial PRIMARY KEY,
    parent_id   bigint REFERENCES departments (id),
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    -- school (学校) → college (学院) / office (部处) → section (科室)
    kind        text NOT NULL CHECK (kind IN ('school', 'college', 'office', 'section')),
    sort_order  integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX departments_parent_idx ON departments (parent_id);

CREATE TABLE users (
    id                    bigserial PRIMARY KEY,
    account               text NOT NULL UNIQUE,           -- 学号 / 工号
    name                  text NOT NULL,
    user_type             text NOT NULL CHECK (user_type IN ('student', 'teacher', 'staff')),
    department_id         bigint REFERENCES departments (id),
    gender                text CHECK (gender IN ('男', '女')),
    title                 text,                           -- 职称职务
    phone                 text,                           -- 安全手机
    email                 text,                           -- 安全邮箱
    -- The ID-card number is kept only as a keyed hash (for login and identity checks)
    -- and a masked form for display, e.g. 3701**********1234.
    id_card_hash          bytea,
    id_card_masked        text,
    status                text NOT NULL DEFAULT 'active' CHECK (status IN ('inactive', 'active', 'locked')),
    password_hash         text,
    must_change_password  boolean NOT NULL DEFAULT false,
    password_changed_at   timestamptz,
    -- Bumped when credentials change: sessions signed in under an older epoch end.
    auth_epoch            integer NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_phone_key ON users (phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX users_id_card_key ON users (id_card_hash) WHERE id_card_hash IS NOT NULL;
CREATE INDEX users_department_idx ON users (department_id);

CREATE TABLE roles (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT ''
);

INSERT INTO roles (code, name, description) VALUES
    ('system_admin',  '系统管理员', '管理整个平台：用户、角色、服务与审计'),
    ('service_admin', '服务管理员', '维护本部门的服务、表单与流程'),
    ('dept_head',     '部门负责人', '审批本部门人员发起的事项'),
    ('counselor',     '辅导员',     '审批所带学生发起的事项');

-- A role held globally (department_id NULL) or within one department subtree.
CREATE TABLE user_roles (
    id             bigserial PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    role_id        bigint NOT NULL REFERENCES roles (id),
    department_id  bigint REFERENCES departments (id),
    granted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX user_roles_unique ON user_roles (user_id, role_id, COALESCE(department_id, 0));

-- Append-only: updates and deletes are refused by a trigger.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor_id    bigint REFERENCES users (id),
    action      text NOT NULL,
    target      text NOT NULL DEFAULT '',
    ip          inet,
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Every sign-in attempt, for lockout and per-IP throttling. `subject` is 'u:<user id>'
-- for a known account, else 'i:<keyed hash of the identifier>' so unknown accounts lock
-- exactly like known ones (no enumeration through the lockout message).
CREATE TABLE login_attempts (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    subject   text NOT NULL,
    ip        inet,
    success   boolean NOT NULL
);
CREATE INDEX login_attempts_subject_idx ON login_attempts (subject, at DESC);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, at DESC) WHERE NOT success;

CREATE TABLE lockouts (
    subject       text PRIMARY KEY,
    locked_until  timestamptz NOT NULL
);

CREATE TABLE app_meta (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
