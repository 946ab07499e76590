-- The hall as the campus sign-in: campus systems registered as CAS services and OpenID
-- Connect clients; the tickets, codes and tokens handed to them (kept only as SHA-256
-- hashes: each is a random 256-bit value, so a slow hash would add nothing); the systems a
-- person signed in to (安全中心, single logout); consents; the id_token signing keys.

CREATE TABLE sso_clients (
    id                        bigserial PRIMARY KEY,
    -- Public identifier (OIDC client_id); random, never reused.
    client_id                 text NOT NULL UNIQUE,
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- SHA-256 of the client secret, shown once when created or replaced.
    secret_hash               bytea NOT NULL,
    -- OIDC: exact redirect URIs, and where RP-initiated logout may return to.
    redirect_uris             text[] NOT NULL DEFAULT '{}',
    post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
    -- OIDC front-channel logout: loaded in a frame with iss and sid when the person signs out.
    frontchannel_logout_uri   text,
    -- CAS: regular expressions a service URL must match in full.
    cas_service_patterns      text[] NOT NULL DEFAULT '{}',
    -- Scopes the client may ask for (openid profile email phone campus).
    allowed_scopes            text[] NOT NULL DEFAULT '{openid,profile}',
    -- Campus-internal systems skip the consent screen.
    internal                  boolean NOT NULL DEFAULT false,
    -- Where a 推荐系统 tile starts a signed-in visit: an OIDC initiate-login URI, or for a
    -- CAS-only system a service URL (the hall issues the ticket straight away).
    launch_url                text,
    disabled_at               timestamptz,
    created_at                timestamptz NOT NULL,
    created_by                bigint REFERENCES users (id),
    updated_at                timestamptz NOT NULL
);

-- A 推荐系统 tile may open its system through the sign-in provider.
ALTER TABLE campus_systems ADD COLUMN sso_client_id bigint REFERENCES sso_clients (id);

-- CAS service tickets: single use, bound to their service URL, valid 10 s.
CREATE TABLE sso_tickets (
    hash        bytea PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES sso_clients (id),
    user_id     bigint NOT NULL REFERENCES users (id),
    service     text NOT NULL,
    -- The hall session's mark (sign_ins.device) it was issued in, for single logout.
    device      text,
    -- Issued from a sign-in made for this ticket (CAS renew).
    fresh       boolean NOT NULL,
    ip          inet,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- OIDC authorization codes: single use, 60 s, PKCE (S256) required.
CREATE TABLE oidc_codes (
    hash            bytea PRIMARY KEY,
    client_id       bigint NOT NULL REFERENCES sso_clients (id),
    user_id         bigint NOT NULL REFERENCES users (id),
    redirect_uri    text NOT NULL,
    scopes          text[] NOT NULL,
    nonce           text,
    code_challenge  text NOT NULL,
    auth_time       timestamptz NOT NULL,
    device          text,
    ip              inet,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);

-- Bearer access tokens (userinfo; the JSON API). user_id NULL: a client's own token.
CREATE TABLE oauth_tokens (
    hash        bytea PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES sso_clients (id),
    user_id     bigint REFERENCES users (id),
    scopes      text[] NOT NULL,
    -- The code it was issued for: a replayed code revokes what it gave (RFC 6749 4.1.2).
    code_hash   bytea,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX oauth_tokens_code_idx ON oauth_tokens (code_hash) WHERE code_hash IS NOT NULL;

-- Each sign-in to a system: listed in 安全中心, and what single logout ends.
CREATE TABLE sso_sign_ins (
    id             bigserial PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    client_id      bigint NOT NULL REFERENCES sso_clients (id),
    protocol       text NOT NULL CHECK (protocol IN ('cas', 'oidc')),
    at             timestamptz NOT NULL,
    ip             inet,
    device         text,
    -- OIDC: the sid of the id_token (front-channel logout). CAS: the ticket, spent, which
    -- the logoutRequest names as SessionIndex, and the service URL it is posted to.
    sid            text,
    session_index  text,
    service        text,
    logged_out_at  timestamptz
);
CREATE INDEX sso_sign_ins_user_idx ON sso_sign_ins (user_id, at DESC);
CREATE INDEX sso_sign_ins_device_idx ON sso_sign_ins (device) WHERE logged_out_at IS NULL;

-- Scopes a person agreed to give a (not campus-internal) system.
CREATE TABLE sso_consents (
    user_id     bigint NOT NULL REFERENCES users (id),
    client_id   bigint NOT NULL REFERENCES sso_clients (id),
    scopes      text[] NOT NULL,
    granted_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- id_token signing keys (RS256). The newest unretired key signs; retired keys stay in the
-- JWKS for a day so tokens signed just before a rotation still verify.
CREATE TABLE oidc_keys (
    id           bigserial PRIMARY KEY,
    kid          text NOT NULL UNIQUE,
    -- PKCS#1 DER of the private key, sealed under the installation's secret key.
    private_key  bytea NOT NULL,
    public_jwk   jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    retired_at   timestamptz
);
