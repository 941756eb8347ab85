//! Where secrets come from: an environment variable, a file, or a systemd
//! credential (`LoadCredential=` puts it in `$CREDENTIALS_DIRECTORY`).
//! Messages name the source, never the value.

use std::path::PathBuf;

use secrecy::SecretString;

#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    Credential(String),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(v) => write!(f, "environment variable {v}"),
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Credential(c) => write!(f, "systemd credential {c}"),
        }
    }
}

/// Reads a secret; the error says which source failed and how.
pub fn load_secret(
    source: &SecretSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretString, String> {
    let value = match source {
        SecretSource::Env(name) => {
            env(name).ok_or_else(|| format!("environment variable {name} is not set"))?
        }
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?,
        SecretSource::Credential(name) => {
            let dir = env("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                format!("credential {name}: CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)")
            })?;
            if name.contains('/') || name == ".." {
                return Err(format!(
                    "credential name {name:?} must be a plain file name"
                ));
            }
            let path = PathBuf::from(dir).join(name);
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read credential {}: {e}", path.display()))?
        }
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(format!("{source} is empty"));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(format!("{source} contains control characters"));
    }
    Ok(SecretString::from(value))
}
