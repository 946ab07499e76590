-- 推荐服务 per kind of viewer: each audience's list has its own order. `recommend_for`
-- stays who a service is recommended to; its place in one audience's list is
-- `recommend_positions ->> audience`, and `recommend_order` (the editor's and the service
-- packages' 推荐顺序) is the place in any list that was never reordered — so the existing
-- order of every list is kept as it is, and reordering one list leaves the others alone.
ALTER TABLE services ADD COLUMN recommend_positions jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(recommend_positions) = 'object');
