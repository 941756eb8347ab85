//! docspace-auditor: audits ONLYOFFICE DocSpace portals for lingering access
//! in archived rooms and for gaps left by employee offboarding, remediates
//! per policy, and writes reports auditors can trust.

pub mod address;
pub mod api;
pub mod audit;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod finding;
pub mod metrics;
pub mod notify;
pub mod offboarding;
pub mod policy;
pub mod remediate;
pub mod report;
pub mod runtime;
pub mod state;
pub mod webhook;
