// Embedded migrations (sqlx::migrate!) and demo data (rust-embed, `seed::files`) must be
// rebuilt when a file there changes, also when one is added.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=demo");
}
