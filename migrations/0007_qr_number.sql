-- 扫码登录 number matching: the computer shows a two-digit number and the phone must pick it
-- out of three, so a /qr/ link forwarded by someone else cannot be approved by a tap alone.
-- Codes live two minutes; rows from before this column (0) simply cannot be approved.
ALTER TABLE qr_logins ADD COLUMN match_number smallint NOT NULL DEFAULT 0;
