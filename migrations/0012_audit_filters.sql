-- 审计日志 filters page by id (keyset): each filter's column with id, so a filtered page
-- and the list of actions that occur (a skip scan over action) stay fast on a big log.
CREATE INDEX audit_log_action_id_idx ON audit_log (action, id);
CREATE INDEX audit_log_target_id_idx ON audit_log (target, id);
CREATE INDEX audit_log_actor_id_id_idx ON audit_log (actor_id, id);
