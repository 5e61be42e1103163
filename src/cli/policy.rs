//! `naa-gateway policy check|test [DIR]`: validate a policy directory, run its decision tables.
//!
//! Both also cover every set-up under `DIR/examples/*/`, so the shipped examples stay valid.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use crate::policy::{self, Problem};

/// Exit code when policies are invalid or a decision table fails.
pub const EXIT_POLICY: u8 = 1;

/// `DIR` and each `DIR/examples/*/` holding `.cedar` files.
fn policy_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_path_buf()];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(dir.join("examples"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir() && has_cedar_files(p))
                .collect()
        })
        .unwrap_or_default();
    examples.sort();
    dirs.extend(examples);
    dirs
}

fn has_cedar_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "cedar"))
    })
}

/// `policy check`: every problem with file, line and column; exit 1 if any.
pub fn check(dir: &Path) -> ExitCode {
    let mut failed = false;
    for dir in policy_dirs(dir) {
        match policy::check(Some(&dir)) {
            Ok(summary) => {
                for w in &summary.warnings {
                    println!("warning: {w}");
                }
                let writes = if summary.may_write {
                    "may write extended properties (Graph Mail.ReadWrite)"
                } else {
                    "read-only (Graph Mail.Read suffices)"
                };
                println!(
                    "{}: {} policies valid; {writes}: {}",
                    dir.display(),
                    summary.policy_ids.len(),
                    summary.policy_ids.join(", ")
                );
            }
            Err(problems) => {
                failed = true;
                print_problems(&problems);
                eprintln!("{}: {} problem(s)", dir.display(), problems.len());
            }
        }
    }
    exit(failed)
}

/// `policy test`: each case's outcome; exit 1 if any case fails or a set cannot be loaded.
pub fn test(dir: &Path) -> ExitCode {
    let (mut passed, mut failed) = (0usize, 0usize);
    for dir in policy_dirs(dir) {
        match policy::run_tables(&dir) {
            Ok(report) => {
                for r in &report.results {
                    let mark = if r.passed { "ok  " } else { "FAIL" };
                    println!("{mark} {} :: {} ({})", r.file, r.name, r.detail);
                }
                failed += report.failures();
                passed += report.results.len() - report.failures();
            }
            Err(problems) => {
                print_problems(&problems);
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    exit(failed > 0)
}

fn print_problems(problems: &[Problem]) {
    for p in problems {
        eprintln!("error: {p}");
    }
}

fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(EXIT_POLICY)
    } else {
        ExitCode::SUCCESS
    }
}
