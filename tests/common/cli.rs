//! Running the `docspace-auditor` binary (assert_cmd) from async tests while
//! a wiremock portal serves on the same runtime.

use std::path::Path;
use std::process::Output;

use super::config::TOKEN_ENV;

pub const BIN: &str = env!("CARGO_BIN_EXE_docspace-auditor");

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs the binary in `cwd` with `args`; the token variable is set to
/// `token` (or removed when `None`). A clean environment for logging:
/// `RUST_LOG` from `log` (default `info`), `RUST_BACKTRACE=0`.
pub async fn run_bin(cwd: &Path, args: &[&str], token: Option<&str>, log: Option<&str>) -> Ran {
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.current_dir(cwd)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", log.unwrap_or("info"))
        .env_remove("NO_COLOR")
        .timeout(std::time::Duration::from_secs(60));
    match token {
        Some(t) => cmd.env(TOKEN_ENV, t),
        None => cmd.env_remove(TOKEN_ENV),
    };
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
        .into()
}
