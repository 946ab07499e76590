//! Integration tests: the real application over HTTP against a real PostgreSQL, and
//! browser tests in headless Chromium.

mod admin_audit;
// Every admin action, one table, each checked for its audit row.
mod admin_audit_walk;
mod admin_content;
mod admin_e2e;
mod admin_matrix;
// 人员管理 and 组织机构.
mod admin_people;
mod admin_services;
mod api;
mod attachments;
mod bootstrap;
mod browser;
mod bundles;
mod catalog;
mod collection_form;
mod collections;
mod collections_browser;
// Shared: filling in the standard forms and acting on applications.
mod center;
// The 流程图 on the application page.
mod diagram;
mod documents;
mod documents_browser;
mod documents_signatures;
mod form_designer;
// The applicant's department picker and retired departments.
mod form_departments;
mod forms;
mod gateways;
mod generate;
mod helpers;
mod identity;
// Bad input and small protocol defects (issue 15).
mod id_card;
mod input;
// The house rules of src/ (imports, file sizes).
mod admin_people_import;
mod layout;
mod login;
mod login_burst;
mod notify;
mod packages;
mod pages;
// PostgreSQL restarts and one-transaction submissions (issue 15).
mod efficiency;
mod personal_center;
mod phone;
mod resolve;
mod restart;
mod security;
mod smtp;
mod sso;
mod sso_browser;
mod usecases;
mod versions;
mod wecom;
mod workflow;
mod workflow_designer;
