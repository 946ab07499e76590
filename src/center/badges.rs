//! The header's badge counts (我待办的, 消息中心, 抄送给我, 草稿箱) of the signed-in person,
//! as SQL pieces that identity's session query splices in, so that every request still
//! loads the session, the person and the counts in one query. The person is `users u`.
//!
//! Macros, not constants: the session query is put together with `concat!` at compile
//! time, which takes only literals.

/// The count columns: `pending`, `cc_unread`, `unread_messages`, `drafts`.
macro_rules! badge_columns {
    () => {
        "COALESCE(tc.pending, 0) AS pending, COALESCE(tc.cc_unread, 0) AS cc_unread,
        -- Counted up to 100 (shown as 99+): a busy approver's unread notices run into thousands.
        (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.user_id = u.id AND m.read_at IS NULL
                               LIMIT 100) m) AS unread_messages,
        -- Kept by triggers (migration 0006).
        COALESCE((SELECT dc.drafts FROM draft_counts dc WHERE dc.user_id = u.id), 0)::int8 AS drafts"
    };
}

/// The join the columns need, after `FROM users u …`.
macro_rules! badge_joins {
    () => {
        "
 -- Kept by triggers (migration 0004): a few rows however many tasks.
 LEFT JOIN LATERAL (SELECT sum(c.pending)::int8 AS pending, sum(c.cc_unread)::int8 AS cc_unread
                    FROM task_counts c WHERE c.assignee_id = u.id) tc ON true"
    };
}

pub(crate) use {badge_columns, badge_joins};
