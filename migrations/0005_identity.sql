-- 统一身份认证: activation, one-time codes, sign-in history.

-- When the person activated the account (NULL: never; such accounts are 'inactive').
ALTER TABLE users ADD COLUMN activated_at timestamptz;
UPDATE users SET activated_at = created_at WHERE status = 'active';
-- Where the institution issues activation codes (HALL_REQUIRE_ACTIVATION_CODE): a keyed hash.
ALTER TABLE users ADD COLUMN activation_code_hash bytea;

-- One-time codes sent by SMS: only a keyed hash is kept, bound to purpose and phone.
CREATE TABLE one_time_codes (
    id          bigserial PRIMARY KEY,
    purpose     text NOT NULL,
    phone       text NOT NULL,
    user_id     bigint REFERENCES users (id),
    code_hash   bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    used_at     timestamptz,
    -- Too many wrong tries, or replaced by a newer code.
    voided_at   timestamptz
);
CREATE INDEX one_time_codes_lookup ON one_time_codes (purpose, phone, created_at DESC);

-- Every send (also refused look-alikes for unknown numbers), for the send limits.
CREATE TABLE code_sends (
    phone  text NOT NULL,
    ip     inet,
    at     timestamptz NOT NULL
);
CREATE INDEX code_sends_phone_idx ON code_sends (phone, at DESC);
CREATE INDEX code_sends_ip_idx ON code_sends (ip, at DESC);

-- Identity checks (激活账号, 找回密码) per ID-number hash and per IP, for their limits.
CREATE TABLE identity_checks (
    subject  text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX identity_checks_idx ON identity_checks (subject, at DESC);

-- Sign-ins, for 安全中心 (recent sign-ins and the devices still signed in).
CREATE TABLE sign_ins (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    at          timestamptz NOT NULL,
    ip          inet,
    user_agent  text NOT NULL DEFAULT '',
    method      text NOT NULL,
    -- The auth epoch at sign-in: rows of an older epoch are signed out.
    auth_epoch  integer NOT NULL,
    -- A random tag also kept in that session, to mark "this device" (not a credential).
    device      text,
    ended_at    timestamptz
);
CREATE INDEX sign_ins_user_idx ON sign_ins (user_id, at DESC);
CREATE INDEX sign_ins_device_idx ON sign_ins (device) WHERE device IS NOT NULL;

-- 扫码登录: a computer shows a code; a phone signed in to the portal approves it; the
-- computer's own session (holding `bind_hash`'s secret) then signs in, once.
CREATE TABLE qr_logins (
    id           bigserial PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    bind_hash    bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    computer_ip  inet,
    computer_ua  text NOT NULL DEFAULT '',
    approved_by  bigint REFERENCES users (id),
    approved_at  timestamptz,
    -- The approver's auth epoch then: a password reset or 退出其他设备 voids the approval.
    approved_epoch integer,
    denied_at    timestamptz,
    consumed_at  timestamptz
);

-- Links sent to an e-mail address: bind it as 安全邮箱, prove it instead of a lost phone,
-- or recover the password. Only a keyed hash of the token is kept.
CREATE TABLE email_links (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    purpose     text NOT NULL CHECK (purpose IN ('bind', 'phone', 'recover')),
    email       text NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
