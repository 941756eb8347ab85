//! Shared test support: a wiremock portal that answers in DocSpace's real
//! shapes ([`portal`]), a config builder that writes a config file into a
//! temp dir ([`config`]), and readers for the CSV reports ([`reports`]).
//! Each test file uses a part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cli;
pub mod config;
pub mod portal;
pub mod reports;

use chrono::{DateTime, Utc};

/// The time every library run sees (a `ManualClock`).
pub const NOW: &str = "2026-06-15T12:00:00Z";

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}
