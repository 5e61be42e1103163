//! A Python virtual environment for tests that drive real clients (exchangelib, msgraph-sdk).
//!
//! Created on first use under `target/test-venv` (or `$NAA_TEST_VENV`), so `cargo test` works
//! on a fresh clone; `.ci/run` creates it up front.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

/// Packages the client tests need, pinned to the versions the fixtures were captured with.
pub const PACKAGES: &[&str] = &["exchangelib==5.6.0", "msgraph-sdk==1.65.0"];

static LOCK: Mutex<()> = Mutex::new(());

/// The venv's `python`, creating the venv and installing [`PACKAGES`] if needed.
pub fn python() -> PathBuf {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let venv = std::env::var_os("NAA_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    let python = venv.join("bin/python");
    let marker = venv.join(".naa-packages");
    let wanted = PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    if !python.exists() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(status.success(), "python3 -m venv {} failed", venv.display());
    }
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES)
        .status()
        .expect("pip runs");
    assert!(status.success(), "pip install {PACKAGES:?} failed");
    std::fs::write(&marker, wanted).expect("marker written");
    python
}

/// Runs `script` with the venv's python and `args`; returns stdout, panicking with stderr on failure.
pub fn run(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .env("OAUTHLIB_INSECURE_TRANSPORT", "1")
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
