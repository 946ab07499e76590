-- 一事联办管理: two administrators saving one bundle at once no longer overwrite each other
-- unseen. The edit form carries the revision it was opened at; a save from an older one is
-- refused with what was typed kept, and every save moves the revision.
ALTER TABLE bundles ADD COLUMN revision integer NOT NULL DEFAULT 0;
