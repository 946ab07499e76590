-- Catalog: categories, services with their guides and search columns, campus systems,
-- 便民服务 links, 通知公告, favorites.

CREATE TABLE service_categories (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    icon        text NOT NULL DEFAULT 'default',
    sort_order  integer NOT NULL DEFAULT 0
);

CREATE TABLE services (
    id                 bigserial PRIMARY KEY,
    -- Short code used in 流水号, e.g. GZZB-2026-000123.
    code               text NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9]{1,15}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    department_id      bigint NOT NULL REFERENCES departments (id),
    category_id        bigint NOT NULL REFERENCES service_categories (id),
    -- 服务对象: student 学生, staff 教职工, alumni 校友, visitor 访客.
    audiences          text[] NOT NULL DEFAULT '{}'
                       CHECK (audiences <@ ARRAY['student', 'staff', 'alumni', 'visitor']),
    tags               text[] NOT NULL DEFAULT '{}',
    summary            text NOT NULL DEFAULT '',
    -- Guide sections (服务指南).
    conditions         text NOT NULL DEFAULT '',   -- 办理条件
    materials          text NOT NULL DEFAULT '',   -- 所需材料
    process            text NOT NULL DEFAULT '',   -- 办理流程
    time_limit         text NOT NULL DEFAULT '',   -- 办理时限
    location           text NOT NULL DEFAULT '',   -- 办理地点
    phone              text NOT NULL DEFAULT '',   -- 咨询电话
    faq                text NOT NULL DEFAULT '',   -- 常见问题
    kind               text NOT NULL CHECK (kind IN ('online', 'external', 'guide')),
    external_url       text CHECK (external_url IS NULL OR external_url ~ '^https?://'),
    -- Who may start it; every non-empty list must match (empty = no restriction).
    start_user_types   text[] NOT NULL DEFAULT '{}'
                       CHECK (start_user_types <@ ARRAY['student', 'teacher', 'staff']),
    start_department_ids bigint[] NOT NULL DEFAULT '{}',
    start_roles        text[] NOT NULL DEFAULT '{}',
    status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'offline')),
    -- 推荐服务: for which viewers (student / staff / visitor), in which order.
    recommend_for      text[] NOT NULL DEFAULT '{}',
    recommend_order    integer NOT NULL DEFAULT 0,
    -- Search columns, computed by the application when the service is saved.
    pinyin_full        text NOT NULL DEFAULT '',   -- gongzuozhoubao
    pinyin_initials    text NOT NULL DEFAULT '',   -- gzzb
    initial            char(1) NOT NULL DEFAULT '#', -- A–Z bar
    search_doc         text NOT NULL DEFAULT '',   -- lower-case name, tags, summary, department, pinyin
    -- Every character and every pair of adjacent characters of search_doc. Chinese
    -- queries are mostly two characters, too short for trigrams; a GIN index on these
    -- grams finds the candidates for any query of one or more characters.
    search_grams       text[] NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'external' OR external_url IS NOT NULL)
);
CREATE INDEX services_search_grams ON services USING gin (search_grams);
CREATE INDEX services_category_idx ON services (category_id) WHERE status = 'published';
CREATE INDEX services_department_idx ON services (department_id) WHERE status = 'published';
CREATE INDEX services_initial_idx ON services (initial) WHERE status = 'published';
-- The three orders of 服务中心 (推荐 / 名称 / 最近更新), so a page is an index scan.
CREATE INDEX services_order_recommended ON services
    ((cardinality(recommend_for) > 0) DESC, recommend_order, pinyin_full, id) WHERE status = 'published';
CREATE INDEX services_order_name ON services (pinyin_full, id) WHERE status = 'published';
CREATE INDEX services_order_updated ON services (updated_at DESC, id DESC) WHERE status = 'published';

-- 推荐系统 / 常用系统.
CREATE TABLE campus_systems (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    url          text NOT NULL CHECK (url ~ '^https?://'),
    icon         text NOT NULL DEFAULT 'default',
    description  text NOT NULL DEFAULT '',
    -- Who sees it: student / staff / visitor; empty = everyone.
    audiences    text[] NOT NULL DEFAULT '{}',
    sort_order   integer NOT NULL DEFAULT 0
);

CREATE TABLE convenience_links (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    url         text NOT NULL CHECK (url ~ '^https?://'),
    sort_order  integer NOT NULL DEFAULT 0
);

CREATE TABLE announcements (
    id             bigserial PRIMARY KEY,
    title          text NOT NULL,
    body_markdown  text NOT NULL,
    department_id  bigint REFERENCES departments (id),
    published_at   timestamptz NOT NULL,
    pinned         boolean NOT NULL DEFAULT false
);
CREATE INDEX announcements_list_idx ON announcements (pinned DESC, published_at DESC);

CREATE TABLE favorites (
    user_id     bigint NOT NULL REFERENCES users (id),
    kind        text NOT NULL CHECK (kind IN ('service', 'system')),
    target_id   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind, target_id)
);

-- A department and everything below it.
CREATE FUNCTION dept_subtree(root bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE t(id) AS (
        SELECT root
        UNION ALL
        SELECT d.id FROM departments d JOIN t ON d.parent_id = t.id
    )
    SELECT id FROM t
$$;

-- A department and everything above it.
CREATE FUNCTION dept_ancestors(start bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE t(id, parent_id) AS (
        SELECT id, parent_id FROM departments WHERE id = start
        UNION ALL
        SELECT d.id, d.parent_id FROM departments d JOIN t ON d.id = t.parent_id
    )
    SELECT id FROM t
$$;
