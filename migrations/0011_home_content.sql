-- Home page content managed in 管理后台: a 通知公告 shows from published_at until
-- visible_until (none = for good) to its audiences (empty = everyone).

ALTER TABLE announcements
    ADD COLUMN visible_until timestamptz,
    ADD COLUMN audiences text[] NOT NULL DEFAULT '{}'
        CHECK (audiences <@ ARRAY['student', 'staff', 'visitor']),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT announcements_window CHECK (visible_until IS NULL OR visible_until > published_at);

ALTER TABLE convenience_links
    ADD CONSTRAINT convenience_links_name CHECK (length(name) BETWEEN 1 AND 50);
