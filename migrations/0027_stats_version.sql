-- 效能数据: a version of the read model, raised by a refresh that wrote rows, so instances
-- may keep computed figures until the data under them changes (the figures of a large
-- department take hundreds of milliseconds to compute).
ALTER TABLE stats_meta ADD COLUMN version bigint NOT NULL DEFAULT 0;
