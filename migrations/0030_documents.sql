-- Result documents: a finished application of a service that issues one gets a PDF (its
-- department's seal where the stamping node approved), stored once, with a short code for
-- the public verify page; the file's SHA-256 is signed with the hall's Ed25519 key.

-- A department's seal (电子签章) image: PNG, never served as a file.
CREATE TABLE seals (
    id             bigserial PRIMARY KEY,
    department_id  bigint NOT NULL REFERENCES departments (id),
    name           text NOT NULL,
    png            bytea NOT NULL,
    uploaded_by    bigint REFERENCES users (id),
    uploaded_at    timestamptz NOT NULL,
    retired_at     timestamptz
);

-- Which services issue a document, and how.
CREATE TABLE document_settings (
    service_id  bigint PRIMARY KEY REFERENCES services (id),
    -- The document's title, e.g. 在读证明.
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 40),
    -- The statement, with {name} {account} {department} {service} placeholders.
    body        text NOT NULL DEFAULT '',
    -- Form fields shown as a table (keys), in order.
    fields      text[] NOT NULL DEFAULT '{}',
    -- The approval node whose 通过 applies the seal, and the seal.
    seal_node   text,
    seal_id     bigint REFERENCES seals (id)
);

CREATE TABLE documents (
    id              bigserial PRIMARY KEY,
    application_id  bigint NOT NULL UNIQUE REFERENCES applications (id),
    -- The short code printed on the document and behind its QR code.
    code            text NOT NULL UNIQUE,
    sha256          bytea NOT NULL,
    -- Ed25519 signature of the SHA-256 under the hall's document key.
    signature       bytea NOT NULL,
    pdf             bytea NOT NULL,
    sealed          boolean NOT NULL,
    issued_at       timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_by      bigint REFERENCES users (id),
    revoke_reason   text
);
CREATE INDEX documents_sha256_idx ON documents (sha256);
