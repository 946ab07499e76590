-- Handwritten signatures (手写签名): a 通过 at a node that asks for one keeps the drawn
-- signature (a PNG cropped to its ink) with its flow record. Stored out of line by
-- PostgreSQL (TOAST), so the 流转记录 reads stay small.
ALTER TABLE flow_records ADD COLUMN signature bytea;

-- Where a result document places the signatures: in its 审批记录 beside each approval,
-- or at the foot beside the issuing department and its seal.
ALTER TABLE document_settings
    ADD COLUMN signature_place text NOT NULL DEFAULT 'records'
        CHECK (signature_place IN ('records', 'footer'));
