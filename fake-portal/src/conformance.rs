//! A small validator for OpenAPI 3.0 component schemas over
//! `serde_json::Value`.
//!
//! It checks what matters for DocSpace's shapes: `$ref`, `allOf` (merged, so
//! `additionalProperties: false` applies to the union of the parts, as
//! OpenAPI generators read it), `oneOf`/`anyOf` (any match), `type`,
//! `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `nullable`, numeric and length bounds, and the `uuid`, `date-time` and
//! `email` formats. `x-derived-types` (the spec's polymorphism marker, e.g.
//! `FileEntryBaseDto` for folders and files) accepts the base or any derived
//! type. `pattern` is not checked.
//!
//! `Rules` carries the documented differences between the spec and the real
//! server (API-NOTES §16): dates are strings where the spec says an
//! `ApiDateTime` object, third-party rooms have string ids, and the server
//! writes fields newer than the spec. The fake portal's tests use it on
//! responses; docspace-auditor uses it on its request bodies.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Why the spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read OpenAPI spec {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("OpenAPI spec {path} is not JSON: {message}")]
    Json { path: String, message: String },
    #[error("OpenAPI spec has no components.schemas")]
    NoSchemas,
    #[error("OpenAPI spec has no schema named {0}")]
    UnknownSchema(String),
}

/// One mismatch: where (`$.response.folders[0].id`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Which deviations from the letter of the spec are accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Accept an RFC 3339 string where the spec has `$ref: ApiDateTime`.
    pub dates_as_strings: bool,
    /// Accept a string where the spec has an integer `id`, `parentId`,
    /// `rootFolderId`, `folderId`, `originId` or `originRoomId`.
    pub string_ids: bool,
    /// Property names accepted despite `additionalProperties: false`.
    pub extra_fields: Vec<String>,
    /// Accept any unknown property.
    pub allow_unknown_fields: bool,
    /// Check the `uuid`, `date-time` and `email` formats.
    pub check_formats: bool,
}

impl Rules {
    /// Exactly the spec.
    pub fn strict() -> Rules {
        Rules {
            dates_as_strings: false,
            string_ids: false,
            extra_fields: Vec::new(),
            allow_unknown_fields: false,
            check_formats: true,
        }
    }

    /// For request bodies: the spec, but dates may be strings (the server's
    /// `ApiDateTime` converter reads them; the auditor echoes link
    /// expiration dates as it received them).
    pub fn requests() -> Rules {
        Rules {
            dates_as_strings: true,
            ..Rules::strict()
        }
    }

    /// For server responses: the differences listed in API-NOTES §16.
    pub fn server_responses() -> Rules {
        Rules {
            dates_as_strings: true,
            string_ids: true,
            extra_fields: ["sharedExternal", "operationType"]
                .map(String::from)
                .to_vec(),
            allow_unknown_fields: false,
            check_formats: true,
        }
    }
}

const ID_FIELDS: [&str; 6] = [
    "id",
    "parentId",
    "rootFolderId",
    "folderId",
    "originId",
    "originRoomId",
];

/// The component schemas of an OpenAPI document.
#[derive(Debug, Clone)]
pub struct Spec {
    schemas: Map<String, Value>,
}

impl Spec {
    /// `shared/docspace/openapi.json` of this repository, found from this
    /// crate's manifest directory at compile time.
    pub fn default_path() -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/docspace/openapi.json"
        ))
    }

    pub fn load_default() -> Result<Spec, SpecError> {
        Spec::load(&Spec::default_path())
    }

    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| SpecError::Json {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Spec::from_value(doc)
    }

    pub fn from_value(mut doc: Value) -> Result<Spec, SpecError> {
        match doc.pointer_mut("/components/schemas").map(Value::take) {
            Some(Value::Object(schemas)) => Ok(Spec { schemas }),
            _ => Err(SpecError::NoSchemas),
        }
    }

    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.schemas.get(name)
    }

    /// Validates `value` against the component schema `name`.
    pub fn validate(&self, name: &str, value: &Value, rules: &Rules) -> Result<(), Vec<Violation>> {
        let Some(schema) = self.schemas.get(name) else {
            return Err(vec![Violation {
                path: "$".into(),
                message: SpecError::UnknownSchema(name.to_string()).to_string(),
            }]);
        };
        self.validate_schema(schema, value, rules)
    }

    /// Validates `value` against an inline schema (which may `$ref` the
    /// components).
    pub fn validate_schema(
        &self,
        schema: &Value,
        value: &Value,
        rules: &Rules,
    ) -> Result<(), Vec<Violation>> {
        let mut run = Run {
            spec: self,
            rules,
            out: Vec::new(),
            depth: 0,
        };
        run.check(schema, value, "$", None);
        if run.out.is_empty() {
            Ok(())
        } else {
            Err(run.out)
        }
    }

    fn resolve<'s>(&'s self, reference: &str) -> Option<(&'s str, &'s Value)> {
        let name = reference.strip_prefix("#/components/schemas/")?;
        self.schemas
            .get_key_value(name)
            .map(|(k, v)| (k.as_str(), v))
    }
}

/// Properties, required names and the additional-properties rule of an
/// object schema, with `allOf` parts and `$ref`s merged in.
#[derive(Default)]
struct Merged<'s> {
    properties: Vec<(&'s str, &'s Value)>,
    required: Vec<&'s str>,
    closed: bool,
    additional: Option<&'s Value>,
}

struct Run<'s> {
    spec: &'s Spec,
    rules: &'s Rules,
    out: Vec<Violation>,
    depth: usize,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl<'s> Run<'s> {
    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.out.push(Violation {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Runs a check on the side and returns its violations.
    fn trial(
        &self,
        schema: &Value,
        value: &Value,
        path: &str,
        prop: Option<&str>,
        derived: bool,
    ) -> Vec<Violation> {
        let mut sub = Run {
            spec: self.spec,
            rules: self.rules,
            out: Vec::new(),
            depth: self.depth,
        };
        if derived {
            sub.check_plain(schema, value, path, prop);
        } else {
            sub.check(schema, value, path, prop);
        }
        sub.out
    }

    /// Keeps the best of several alternatives: none if one matches,
    /// otherwise the violations of the closest one.
    fn pick_best(&mut self, trials: Vec<Vec<Violation>>, path: &str, what: &str) {
        if trials.iter().any(Vec::is_empty) {
            return;
        }
        match trials.into_iter().min_by_key(Vec::len) {
            Some(best) => self.out.extend(best),
            None => self.fail(path, format!("no {what} alternative")),
        }
    }

    fn check(&mut self, schema: &'s Value, value: &Value, path: &str, prop: Option<&str>) {
        if self.depth > 64 {
            return;
        }
        self.depth += 1;
        self.check_inner(schema, value, path, prop);
        self.depth -= 1;
    }

    fn check_inner(&mut self, schema: &'s Value, value: &Value, path: &str, prop: Option<&str>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let Some((name, target)) = self.spec.resolve(reference) else {
                self.fail(path, format!("unresolvable $ref {reference}"));
                return;
            };
            if name == "ApiDateTime" && self.rules.dates_as_strings && value.is_string() {
                if value.as_str().and_then(crate::time::parse).is_none() {
                    self.fail(path, format!("{value} is not a date"));
                }
                return;
            }
            self.check(target, value, path, prop);
            return;
        }
        if value.is_object()
            && let Some(derived) = schema.get("x-derived-types").and_then(Value::as_array)
        {
            let mut trials = vec![self.trial(schema, value, path, prop, true)];
            for name in derived.iter().filter_map(Value::as_str) {
                if let Some(target) = self.spec.schemas.get(name) {
                    trials.push(self.trial(target, value, path, prop, false));
                }
            }
            self.pick_best(trials, path, "derived type");
            return;
        }
        self.check_plain(schema, value, path, prop);
    }

    /// Everything but `$ref` and `x-derived-types` dispatch.
    fn check_plain(&mut self, schema: &'s Value, value: &Value, path: &str, prop: Option<&str>) {
        if value.is_null() {
            let nullable = schema
                .get("nullable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let untyped = schema.get("type").is_none()
                && schema.get("allOf").is_none()
                && schema.get("oneOf").is_none()
                && schema.get("anyOf").is_none()
                && schema.get("properties").is_none()
                && schema.get("enum").is_none();
            if !nullable && !untyped {
                self.fail(path, "null is not allowed");
            }
            return;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alternatives) = schema.get(key).and_then(Value::as_array) {
                let trials = alternatives
                    .iter()
                    .map(|alt| self.trial(alt, value, path, prop, false))
                    .collect();
                self.pick_best(trials, path, key);
            }
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            if let Value::Object(obj) = value {
                let mut merged = Merged::default();
                self.collect(schema, &mut merged, 0);
                self.check_object(&merged, obj, path);
            } else {
                for part in parts {
                    self.check(part, value, path, prop);
                }
            }
            return;
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.iter().any(|o| same_value(o, value))
        {
            self.fail(path, format!("{value} is not one of the enum values"));
        }
        let declared = schema.get("type").and_then(Value::as_str);
        let ty = declared.or_else(|| schema.get("properties").map(|_| "object"));
        match ty {
            Some("integer") => {
                let id_as_text = self.rules.string_ids
                    && value.is_string()
                    && prop.is_some_and(|p| ID_FIELDS.contains(&p));
                let whole = value.as_f64().is_some_and(|f| f.fract() == 0.0);
                if !(whole || id_as_text) {
                    self.fail(
                        path,
                        format!("expected integer, found {}", type_name(value)),
                    );
                }
                self.check_bounds(schema, value, path);
            }
            Some("number") => {
                if !value.is_number() {
                    self.fail(path, format!("expected number, found {}", type_name(value)));
                }
                self.check_bounds(schema, value, path);
            }
            Some("boolean") if !value.is_boolean() => {
                self.fail(
                    path,
                    format!("expected boolean, found {}", type_name(value)),
                );
            }
            Some("boolean") => {}
            Some("string") => match value.as_str() {
                None => self.fail(path, format!("expected string, found {}", type_name(value))),
                Some(s) => self.check_string(schema, s, path),
            },
            Some("array") => match value.as_array() {
                None => self.fail(path, format!("expected array, found {}", type_name(value))),
                Some(items) => self.check_array(schema, items, path),
            },
            Some("object") => match value.as_object() {
                None => self.fail(path, format!("expected object, found {}", type_name(value))),
                Some(obj) => {
                    let mut merged = Merged::default();
                    self.collect(schema, &mut merged, 0);
                    self.check_object(&merged, obj, path);
                }
            },
            Some(other) => self.fail(path, format!("unsupported schema type {other}")),
            None => {}
        }
    }

    fn collect(&self, schema: &'s Value, merged: &mut Merged<'s>, depth: usize) {
        if depth > 32 {
            return;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            if let Some((_, target)) = self.spec.resolve(reference) {
                self.collect(target, merged, depth + 1);
            }
            return;
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.collect(part, merged, depth + 1);
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                merged.properties.push((k.as_str(), v));
            }
        }
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            merged.required.extend(req.iter().filter_map(Value::as_str));
        }
        match schema.get("additionalProperties") {
            Some(Value::Bool(false)) => merged.closed = true,
            Some(s @ Value::Object(_)) => merged.additional = Some(s),
            _ => {}
        }
    }

    fn check_object(&mut self, merged: &Merged<'s>, obj: &Map<String, Value>, path: &str) {
        for name in &merged.required {
            if !obj.contains_key(*name) {
                self.fail(path, format!("missing required property {name}"));
            }
        }
        for (key, v) in obj {
            let child = format!("{path}.{key}");
            // Later allOf parts override earlier ones; check against all
            // declarations of the name (they agree in this spec).
            let decls: Vec<&'s Value> = merged
                .properties
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, s)| *s)
                .collect();
            if !decls.is_empty() {
                for d in decls {
                    self.check(d, v, &child, Some(key));
                }
            } else if let Some(extra) = merged.additional {
                self.check(extra, v, &child, Some(key));
            } else if merged.closed
                && !self.rules.allow_unknown_fields
                && !self.rules.extra_fields.contains(key)
            {
                self.fail(&child, "property not in the schema");
            }
        }
    }

    fn check_bounds(&mut self, schema: &Value, value: &Value, path: &str) {
        let Some(n) = value.as_f64() else { return };
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            self.fail(path, format!("{n} is below the minimum {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            self.fail(path, format!("{n} is above the maximum {max}"));
        }
    }

    fn check_string(&mut self, schema: &Value, s: &str, path: &str) {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            self.fail(path, format!("shorter than {min} characters"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            self.fail(path, format!("longer than {max} characters"));
        }
        if !self.rules.check_formats {
            return;
        }
        match schema.get("format").and_then(Value::as_str) {
            Some("uuid") if !is_uuid(s) => self.fail(path, format!("{s:?} is not a uuid")),
            Some("date-time") if crate::time::parse(s).is_none() => {
                self.fail(path, format!("{s:?} is not a date-time"));
            }
            Some("email") if !s.contains('@') => {
                self.fail(path, format!("{s:?} is not an e-mail address"))
            }
            _ => {}
        }
    }

    fn check_array(&mut self, schema: &'s Value, items: &[Value], path: &str) {
        let len = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            self.fail(path, format!("fewer than {min} items"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            self.fail(path, format!("more than {max} items"));
        }
        if schema.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
            for (i, a) in items.iter().enumerate() {
                if items[..i].contains(a) {
                    self.fail(&format!("{path}[{i}]"), "duplicate item");
                }
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.check(item_schema, item, &format!("{path}[{i}]"), None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        Spec::from_value(json!({"components": {"schemas": {
            "ApiDateTime": {"type": "object", "additionalProperties": false,
                "properties": {"utcTime": {"type": "string", "format": "date-time"}}},
            "Base": {"type": "object", "additionalProperties": false,
                "properties": {"title": {"type": "string", "nullable": true}, "created": {"$ref": "#/components/schemas/ApiDateTime"}},
                "x-derived-types": ["Derived"]},
            "Derived": {"additionalProperties": false, "allOf": [
                {"$ref": "#/components/schemas/Base"},
                {"type": "object", "properties": {"id": {"type": "integer"}, "kind": {"$ref": "#/components/schemas/Kind"}}}],
                "required": ["id"]},
            "Kind": {"type": "integer", "enum": [1, 2]},
            "List": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Base"}},
                "owner": {"type": "string", "format": "uuid"}, "count": {"type": "integer", "minimum": 1, "maximum": 100}}},
        }}}))
        .unwrap()
    }

    #[test]
    fn all_of_merges_properties_under_additional_false() {
        let s = spec();
        let ok = json!({"id": 3, "title": "x", "kind": 2});
        assert_eq!(s.validate("Derived", &ok, &Rules::strict()), Ok(()));
        let bad = json!({"id": "3", "kind": 5, "extra": true});
        let errs = s.validate("Derived", &bad, &Rules::strict()).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        let missing = s
            .validate("Derived", &json!({"title": null}), &Rules::strict())
            .unwrap_err();
        assert_eq!(missing[0].message, "missing required property id");
    }

    #[test]
    fn rules_allow_the_documented_exceptions() {
        let s = spec();
        let v = json!({"id": "sbox-1", "created": "2026-01-01T00:00:00.0000000Z", "sharedExternal": true});
        assert!(s.validate("Derived", &v, &Rules::strict()).is_err());
        assert_eq!(
            s.validate("Derived", &v, &Rules::server_responses()),
            Ok(())
        );
        let bad_date = json!({"id": 1, "created": "yesterday"});
        assert!(
            s.validate("Derived", &bad_date, &Rules::server_responses())
                .is_err()
        );
    }

    #[test]
    fn derived_types_and_arrays() {
        let s = spec();
        let v = json!({"items": [{"title": "a"}, {"id": 1, "title": "b"}], "owner": "00000000-0000-0000-0000-000000000000", "count": 5});
        assert_eq!(s.validate("List", &v, &Rules::strict()), Ok(()));
        let v = json!({"items": [{"nope": 1}], "owner": "not-a-guid", "count": 0});
        let errs = s.validate("List", &v, &Rules::strict()).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().any(|e| e.path == "$.items[0].nope"), "{errs:?}");
    }
}
