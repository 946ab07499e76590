-- Issue 17, item 2: when a task ends without its assignee's action (another approver
-- decided, the applicant withdrew, someone stopped the application), the assignee's
-- unread 待办, 催办 and 提醒 notices about that application are marked read in the same
-- statement. The unread index now also holds the application, so that update finds those
-- notices directly, however many unread messages a busy approver has; the badge count
-- reads its first column as before. Same entries as the index it replaces.
DROP INDEX messages_unread_idx;
CREATE INDEX messages_unread_idx ON messages (user_id, application_id) WHERE read_at IS NULL;
