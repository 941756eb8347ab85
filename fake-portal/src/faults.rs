//! Injected faults: latency, rate limiting, server errors, hangs and broken
//! bodies.
//!
//! Random faults are drawn from a seeded generator, one draw per request, so
//! a sequential client sees the same faults on every run. Per-path overrides
//! win over random faults and can be limited to a number of hits, which is
//! how a test says "the first two share reads of room 42 fail".
//! This module decides *which* fault applies; the server module applies it.

use serde::{Deserialize, Serialize};

/// One kind of fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum FaultKind {
    /// 429 with `Retry-After: <secs>` and an empty body; nothing is processed.
    RateLimited { retry_after_secs: u32 },
    /// 500, 502 or 503 with an error envelope; nothing is processed.
    ServerError { status: u16 },
    /// No answer for `Faults::hang_ms`, then the request is processed.
    Hang,
    /// The request is processed, but the body is cut to `{"response": [`.
    Malformed,
    /// Extra latency before processing.
    Slow { ms: u64 },
}

/// A fault for one path (or path template), optionally one method, optionally
/// a limited number of times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathFault {
    /// `GET`, `PUT`…; any method when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A concrete path (`/api/2.0/files/rooms/42/share`) or a template
    /// (`/api/2.0/files/rooms/{id}/share`).
    pub path: String,
    pub fault: FaultKind,
    /// How many matching requests get the fault; every one when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl PathFault {
    pub fn new(method: Option<&str>, path: &str, fault: FaultKind) -> PathFault {
        PathFault {
            method: method.map(str::to_string),
            path: path.to_string(),
            fault,
            times: None,
        }
    }

    pub fn times(mut self, n: u32) -> PathFault {
        self.times = Some(n);
        self
    }
}

/// The fault configuration; all rates are 0.0–1.0 and default to 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// The time every request takes, from arrival to answer (the portal's
    /// own processing runs within it).
    pub latency_ms: u64,
    pub rate_limited: f64,
    pub retry_after_secs: u32,
    pub server_error: f64,
    pub bad_gateway: f64,
    pub unavailable: f64,
    pub hang: f64,
    /// How long a hang lasts; meant to be longer than the client's timeout.
    pub hang_ms: u64,
    pub malformed: f64,
    pub seed: u64,
    pub overrides: Vec<PathFault>,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            latency_ms: 0,
            rate_limited: 0.0,
            retry_after_secs: 1,
            server_error: 0.0,
            bad_gateway: 0.0,
            unavailable: 0.0,
            hang: 0.0,
            hang_ms: 120_000,
            malformed: 0.0,
            seed: 0,
            overrides: Vec::new(),
        }
    }
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Faults {
        Faults::default()
    }

    pub fn with_override(mut self, fault: PathFault) -> Faults {
        self.overrides.push(fault);
        self
    }
}

/// The runtime side: the configuration, the generator and the hit counters
/// of limited overrides.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub config: Faults,
    rng: fastrand::Rng,
    used: Vec<u32>,
}

impl FaultState {
    pub fn new(config: Faults) -> FaultState {
        let rng = fastrand::Rng::with_seed(config.seed);
        let used = vec![0; config.overrides.len()];
        FaultState { config, rng, used }
    }

    /// Picks the fault for one request, if any.
    pub fn pick(&mut self, method: &str, path: &str, template: &str) -> Option<FaultKind> {
        for (i, o) in self.config.overrides.iter().enumerate() {
            let method_ok = o
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !method_ok || (o.path != path && o.path != template) {
                continue;
            }
            if o.times.is_some_and(|n| self.used[i] >= n) {
                continue;
            }
            self.used[i] += 1;
            return Some(o.fault.clone());
        }
        let c = &self.config;
        let total =
            c.rate_limited + c.server_error + c.bad_gateway + c.unavailable + c.hang + c.malformed;
        if total <= 0.0 {
            return None;
        }
        // One draw per request, compared against cumulative rates, keeps
        // the sequence reproducible for a seed.
        let roll = self.rng.f64();
        let table = [
            (
                c.rate_limited,
                FaultKind::RateLimited {
                    retry_after_secs: c.retry_after_secs,
                },
            ),
            (c.server_error, FaultKind::ServerError { status: 500 }),
            (c.bad_gateway, FaultKind::ServerError { status: 502 }),
            (c.unavailable, FaultKind::ServerError { status: 503 }),
            (c.hang, FaultKind::Hang),
            (c.malformed, FaultKind::Malformed),
        ];
        let mut edge = 0.0;
        for (rate, kind) in table {
            edge += rate;
            if roll < edge {
                return Some(kind);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_limited_and_match_templates() {
        let mut s = FaultState::new(
            Faults::none().with_override(
                PathFault::new(
                    Some("GET"),
                    "/api/2.0/files/rooms/{id}/share",
                    FaultKind::Malformed,
                )
                .times(1),
            ),
        );
        let path = "/api/2.0/files/rooms/42/share";
        let tpl = "/api/2.0/files/rooms/{id}/share";
        assert_eq!(s.pick("PUT", path, tpl), None);
        assert_eq!(s.pick("GET", path, tpl), Some(FaultKind::Malformed));
        assert_eq!(s.pick("GET", path, tpl), None);
    }

    #[test]
    fn random_faults_are_reproducible() {
        let cfg = Faults {
            rate_limited: 0.3,
            unavailable: 0.2,
            seed: 7,
            ..Faults::none()
        };
        let run = || {
            let mut s = FaultState::new(cfg.clone());
            (0..200)
                .map(|_| s.pick("GET", "/p", "/p"))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let limited = a
            .iter()
            .filter(|f| matches!(f, Some(FaultKind::RateLimited { .. })))
            .count();
        assert!((30..=90).contains(&limited), "{limited}");
    }
}
