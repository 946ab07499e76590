-- The 身份证号 on file, encrypted (XChaCha20-Poly1305 under a key derived from the
-- installation's secret key, bound to the row's keyed hash), so forms can fill it in
-- (issue 17.10). Lookups still use id_card_hash; this column is read only to fill a form.
-- Accounts created before it learn their number when the person next proves it
-- (激活账号, 找回密码) or an administrator sets it.
ALTER TABLE users ADD COLUMN id_card_sealed bytea;
