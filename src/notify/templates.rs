//! Message wording: minijinja templates. The defaults in `templates/` are
//! compiled into the binary; a file of the same name in
//! `notify.templates_dir` replaces one. Every template is compiled and
//! rendered once with sample data at start, so a typo in an override fails
//! `Notifier::new`, not a run.
//!
//! Templates ending in `.html` are HTML-escaped automatically; the others
//! are plain text. Subjects are rendered from `*.subject.txt` and made safe
//! for a header by the composer, never trusted as they come.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::NotifyError;

/// Every template name, with its built-in default.
pub const DEFAULTS: [(&str, &str); 9] = [
    (
        "digest.subject.txt",
        include_str!("../../templates/digest.subject.txt"),
    ),
    ("digest.txt", include_str!("../../templates/digest.txt")),
    ("digest.html", include_str!("../../templates/digest.html")),
    (
        "summary.subject.txt",
        include_str!("../../templates/summary.subject.txt"),
    ),
    ("summary.txt", include_str!("../../templates/summary.txt")),
    ("summary.html", include_str!("../../templates/summary.html")),
    (
        "escalation.subject.txt",
        include_str!("../../templates/escalation.subject.txt"),
    ),
    (
        "escalation.txt",
        include_str!("../../templates/escalation.txt"),
    ),
    (
        "escalation.html",
        include_str!("../../templates/escalation.html"),
    ),
];

/// The largest override file read; wording, not data.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
    /// Where each template came from (`built-in` or a path), for errors.
    origins: Vec<(String, String)>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("origins", &self.origins)
            .finish()
    }
}

impl Templates {
    /// Loads the defaults and the overrides found in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, NotifyError> {
        let mut env = Environment::new();
        // A misspelt variable in an override is an error, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        if let Some(d) = dir {
            check_dir(d)?;
        }
        let mut origins = Vec::new();
        for (name, default) in DEFAULTS {
            let (source, origin) = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(path) => (read_override(&path)?, path.display().to_string()),
                None => (default.to_string(), "built-in".to_string()),
            };
            env.add_template_owned(name, source)
                .map_err(|e| template_error(name, &origin, &e))?;
            origins.push((name.to_string(), origin));
        }
        Ok(Templates { env, origins })
    }

    fn origin(&self, name: &str) -> String {
        self.origins
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| "built-in".into())
    }

    /// Renders one template.
    pub fn render<C: Serialize>(&self, name: &str, ctx: &C) -> Result<String, NotifyError> {
        let t = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, &self.origin(name), &e))?;
        t.render(ctx)
            .map_err(|e| template_error(name, &self.origin(name), &e))
    }
}

fn template_error(name: &str, origin: &str, e: &minijinja::Error) -> NotifyError {
    // minijinja's Display names the line; the detail adds the source excerpt.
    let mut message = e.to_string();
    if let Some(d) = e.detail()
        && !message.contains(d)
    {
        message.push_str(": ");
        message.push_str(d);
    }
    NotifyError::Template {
        name: name.to_string(),
        origin: origin.to_string(),
        message,
    }
}

fn check_dir(dir: &Path) -> Result<(), NotifyError> {
    let entries = std::fs::read_dir(dir).map_err(|e| NotifyError::TemplatesDir {
        path: dir.to_path_buf(),
        message: format!("cannot read the folder: {e}"),
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        // A misspelt override would silently be ignored: say so.
        if !DEFAULTS.iter().any(|(n, _)| *n == name) {
            tracing::warn!(
                file = %entry.path().display(),
                "not a known template name; known: {}",
                DEFAULTS.map(|(n, _)| n).join(", ")
            );
        }
    }
    Ok(())
}

fn read_override(path: &PathBuf) -> Result<String, NotifyError> {
    let err = |message: String| NotifyError::TemplatesDir {
        path: path.clone(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if meta.len() > MAX_TEMPLATE_BYTES {
        return Err(err(format!("larger than {MAX_TEMPLATE_BYTES} bytes")));
    }
    std::fs::read_to_string(path).map_err(|e| err(format!("cannot read as UTF-8 text: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_compile() {
        Templates::load(None).unwrap();
    }

    #[test]
    fn override_replaces_one_template_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("digest.subject.txt"), "Custom {{ run_id }}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let out = t
            .render("digest.subject.txt", &serde_json::json!({"run_id": "r1"}))
            .unwrap();
        assert_eq!(out, "Custom r1");

        std::fs::write(dir.path().join("summary.txt"), "{% for x in %}").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("summary.txt"), "{e}");
    }

    #[test]
    fn strict_undefined_catches_misspelt_variables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("digest.subject.txt"), "{{ run_idd }}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        assert!(
            t.render("digest.subject.txt", &serde_json::json!({"run_id": "r1"}))
                .is_err()
        );
    }

    #[test]
    fn html_templates_escape() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("digest.html"), "<p>{{ x }}</p>").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let out = t
            .render("digest.html", &serde_json::json!({"x": "<script>"}))
            .unwrap();
        assert_eq!(out, "<p>&lt;script&gt;</p>");
    }
}
