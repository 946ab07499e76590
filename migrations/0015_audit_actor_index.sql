-- Every audited action wrote an entry into two indexes over the same actor:
-- (actor_id, at DESC) from 0001 and (actor_id, id) from 0012. Entries are appended in id
-- order, which is time order, so (actor_id, id) serves both the 审计日志's person filter and
-- 个人中心's recent sign-ins (now ordered by id): one index entry and one WAL record fewer
-- per 通过, 提交 and sign-in (issue 16).
DROP INDEX audit_log_actor_idx;
