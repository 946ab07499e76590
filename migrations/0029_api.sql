-- The open JSON API's integrations: a registered system may read the applications of the
-- services it names (with a client-credentials token) and be told when one of them ends
-- (a webhook, delivered through the outbox with retries, signed with HMAC-SHA256).
ALTER TABLE sso_clients ADD COLUMN api_services text[] NOT NULL DEFAULT '{}';
ALTER TABLE sso_clients ADD COLUMN webhook_url text CHECK (webhook_url IS NULL OR webhook_url ~ '^https?://');
