//! docspace-auditor: audits ONLYOFFICE DocSpace portals for lingering access
//! in archived rooms and for gaps left by employee offboarding, remediates
//! per policy, and writes reports auditors can trust.

pub mod address;
pub mod api;
pub mod check;
pub mod config;
pub mod finding;
pub mod state;
pub mod clock;
pub mod policy;
pub mod report;
pub mod remediate;
pub mod audit;
pub mod cli;
pub mod offboarding;
#[cfg(feature = "demo")]
pub mod demo;
pub mod notify;
pub mod daemon;
pub mod webhook;
pub mod metrics;
