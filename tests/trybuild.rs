//! Compile tests of `#[require_auth]` and `#[with_auth]`, run by trybuild:
//! programs under `tests/ui/pass` must build and run, and each program under
//! `tests/ui/axum` and `tests/ui/actix` must fail with exactly the errors in
//! the `.stderr` file beside it.
//!
//! rustc's wording and layout change between releases, so the compile-fail
//! snapshots are checked only on the compiler that made them, named in
//! `tests/ui/README.md`. Other compilers run the pass cases only.
//!
//! After changing an error message, rebuild the snapshots with
//! `TRYBUILD=overwrite cargo test --test trybuild` and review the diff.

use std::process::Command;

/// The compiler the `.stderr` snapshots were made with, as printed by
/// `rustc --version` up to the commit hash.
const SNAPSHOT_RUSTC: &str = "rustc 1.95.0 ";

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");

    match rustc_version() {
        Some(version) if version.starts_with(SNAPSHOT_RUSTC) => {
            cases.compile_fail("tests/ui/axum/*.rs");
            cases.compile_fail("tests/ui/actix/*.rs");
        }
        other => {
            eprintln!(
                "skipped the compile-fail cases: their snapshots are from {}, and this is {}",
                SNAPSHOT_RUSTC.trim_end(),
                other.as_deref().unwrap_or("an unknown compiler"),
            );
        }
    }
}

/// Returns the output of `rustc --version`, using the compiler that Cargo
/// uses when `RUSTC` is set.
fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).arg("--version").output().ok()?;
    String::from_utf8(output.stdout).ok()
}
