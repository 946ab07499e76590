#!/usr/bin/env python3
"""Each regression test of issue 15 run against the code with its fix undone: it must fail.

usage: scripts/regression-check.py [NAME-PART]   (from the repository; DATABASE_URL as for
cargo test; with NAME-PART, only the entries whose name contains it)

For each defect: patch the fix out of one file (one exact anchor), run its test, restore
the file. "FAILS with the fix undone" is the wanted verdict; "still passes" means the test
cannot catch a regression of that fix. Takes a debug rebuild per entry (about a minute).
With D5 undone, the restart test leaves its private PostgreSQL running (that is the
defect): stop it with `pg_ctl -D /tmp/hall-restart-<pid> stop` afterwards.
"""
import os
import subprocess

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
M = [
 ("D1 NUL and unfit characters", "src/routes.rs", "        .layer(from_fn(middleware::refuse_unfit_input))\n", "", "unfit_characters_are_refused_everywhere_with_one_message"),
 ("D6b bidi", "src/forms/files.rs", "fn is_bidi_control(c: char) -> bool {\n", "fn is_bidi_control(c: char) -> bool {\n    return false;\n    #[allow(unreachable_code)]\n", "bidi_controls_are_stripped_from_file_names"),
 ("D6c keep-alive", "src/routes.rs", ".layer(from_fn(middleware::keep_alive_after_refusal))", ".layer(from_fn(middleware::no_store_default))", "a_refused_request_leaves_the_connection_usable"),
 ("D6d 403 not 409", "src/workflow/usecase/act.rs", "            if !nodes.contains(&node) {", "            if false && !nodes.contains(&node) {", "only_assignees_hear_already_handled"),
 ("D2 reservation (address)", "src/identity/lockout.rs", "        if settled + pending >= max {", "        if settled + pending >= max && false {", "a_burst_on_many_accounts_from_one_address_verifies_at_most_the_address_limit"),
 ("D2 reservation (account)", "src/identity/lockout.rs", "    if pending > 0 && settled + pending >= limits.threshold {", "    if false && pending > 0 && settled + pending >= limits.threshold {", "a_burst_of_wrong_passwords_on_two_instances_verifies_at_most_the_lockout_limit"),
 ("6e picker scope", "src/workflow/web/people.rs", "Some(field) => picker_scope(&state.db, &user, q.service, q.app, field).await?,", "Some(_) => Within::ANYONE,", "the_person_picker_lists_only_whom_the_field_takes"),
 ("16 session person by id", "src/identity/session.rs", '            " OFFSET 0",', '            " AND u.status = \'active\'",', "the_session_query_reads_one_person_whatever_the_statistics"),
 ("16 service delete waits for submissions", "src/admin/services/status.rs", '    sqlx::query("LOCK TABLE applications IN SHARE MODE")', '    sqlx::query("SELECT 1")', "a_delete_waits_for_a_first_application_in_flight"),
 ("16 a repeated 抄送 stays silent", "src/workflow/store/transition.rs", "             ON CONFLICT (idempotency_key) DO NOTHING \\\n", "", "travel_abroad_condition_and_cc"),
 ("17.6 加签 after oneself keeps the task open", "src/workflow/store/transition.rs", "            && !now_pending.iter().any(|(n, u)| n == node && *u == user)\n", "", "a_transfer_after_adding_a_signer_is_in_my_transfers"),
 ("17.10 the number on file stands", "src/forms/mod.rs", "        if (f.locked || f.autofill.as_deref() == Some(ID_CARD_SOURCE))\n", "        if f.locked\n", "the_id_number_on_file_is_filled_masked_and_cannot_be_changed"),
 ("17.10 masked for the applicant", "src/forms/render.rs", "                    && lookups.mask_id_card\n", "                    && false\n", "the_id_number_on_file_is_filled_masked_and_cannot_be_changed"),
 ("17.10 birth date against the number", "src/forms/mod.rs", "    cross_check(schema, access, &out, &mut errors);\n", "", "a_birth_date_is_in_the_past_and_agrees_with_the_id_number"),
 ("17.10 copy kept on proof", "src/identity/flows/check.rs", "    if let Some(p) = &p {\n", "    if let Some(p) = p.as_ref().filter(|_| false) {\n", "proving_the_id_number_keeps_a_sealed_copy_for_forms"),
 ("17.11 我已办的 one row per application", "src/center/outcomes.rs", "          AND NOT EXISTS (SELECT 1 FROM tasks l WHERE l.application_id = t.application_id\n", "          AND NOT EXISTS (SELECT 1 FROM tasks l WHERE false AND l.application_id = t.application_id\n", "handled_lists_each_application_once_with_counts_per_service"),
 ("17.11 a bundle's shared answer asked once", "src/workflow/usecase/bundle.rs", "            if let Some(j) = shared {\n", "            if let Some(j) = shared.filter(|_| false) {\n", "one_form_starts_every_services_own_application"),
 ("17.11 a bundle posted twice starts once", "src/workflow/usecase/submit.rs", "             VALUES ($1, $2, $3, $4)\n", "             VALUES ($1, $2, $3, CASE WHEN $4::uuid IS NULL THEN NULL ELSE gen_random_uuid() END)\n", "a_form_posted_twice_starts_once"),
 ("16 办结 read, not stored", "src/workflow/store/records.rs", "               AND NOT EXISTS (SELECT 1 FROM flow_records c\n", "               AND false AND NOT EXISTS (SELECT 1 FROM flow_records c\n", "the_end_line_comes_from_the_application_row"),
 ("a new application posted twice is submitted once", "src/workflow/usecase/submit.rs", "        if let Some(key) = once {\n", "        if let Some(key) = once.filter(|_| false) {\n", "a_new_application_posted_twice_is_submitted_once"),
 ("crowd waits", "src/identity/login.rs", "        lockout::CROWDED_WAIT,", "        std::time::Duration::ZERO,", "a_crowd_behind_one_address_gets_in_at_the_first_try"),
 ("D6a 413", "src/forms/input.rs", "        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {", "        if false && e.status() == StatusCode::PAYLOAD_TOO_LARGE {", "an_upload_past_the_limit_is_413_saying_the_limit"),
 ("D3 503 not 500", "src/error.rs", "    let mut res = ErrorPage::response(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE);", "    let mut res = ErrorPage::response(StatusCode::INTERNAL_SERVER_ERROR, UNAVAILABLE_MESSAGE);", "a_database_restart_under_load_shows_no_500"),
 ("D3 reads retried", "src/web/retry.rs", "                .is_some_and(|m| m.broken)", "                .is_some_and(|m| m.broken && false)", "a_read_on_a_dead_pooled_connection_is_retried"),
 ('D4 one transaction', "src/workflow/usecase/submit.rs", '        let app = submit_in(db, &mut tx, app, data.clone(), service_code, c, true).await?;\n', '        drafts::insert(&mut *db.acquire().await?, drafts::NewDraft { data: new.data.clone(), ..new }).await?;\n        let app = submit_in(db, &mut tx, app, data.clone(), service_code, c, true).await?;\n', "a_failed_submission_leaves_no_draft"),
 ("D5 cluster stopped by postmaster.pid", "src/db/embedded.rs", "        if let Some(pid) = postmaster_pid(&self.dir)\n            && is_our_postmaster(pid, &self.dir)\n        {", "        if let Some(pid) = postmaster_pid(&self.dir)\n            && false\n            && is_our_postmaster(pid, &self.dir)\n        {", "a_database_restart_under_load_shows_no_500"),
]
env = dict(os.environ, E2E_REQUIRED="1", RUST_BACKTRACE="0")
env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
import sys
only = sys.argv[1] if len(sys.argv) > 1 else ""
for name, path, old, new, test in M:
    if only not in name:
        continue
    src = open(path).read()
    if src.count(old) != 1:
        print(f"{name}: anchor not found once in {path}", flush=True); continue
    open(path, "w").write(src.replace(old, new))
    try:
        r = subprocess.run(["cargo", "test", "--test", "app", "--", test],
                           env=env, capture_output=True, text=True, timeout=900)
        out = r.stdout + r.stderr
        built = "error[" not in out
        failed = "test result: FAILED" in out
        passed = "test result: ok. 1 passed" in out
        verdict = "FAILS with the fix undone (good)" if failed else ("still passes: the test does not catch it" if passed else "did not build/run")
        print(f"{name}: {test}: {verdict}", flush=True)
        if not built or not (failed or passed):
            print(out[-1500:], flush=True)
    finally:
        open(path, "w").write(src)
