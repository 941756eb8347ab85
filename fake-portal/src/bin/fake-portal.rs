//! `fake-portal`: runs the fake DocSpace portal by hand.
//!
//! ```text
//! fake-portal --demo [--port P]
//! fake-portal --scenario FILE [--port P]
//! fake-portal --generate N [--seed S] [--port P]
//! ```
//! Prints the base URL and the API key, then serves on 127.0.0.1 until
//! Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use docspace_fake_portal::{FakePortal, GenerateSpec, Scenario};

const USAGE: &str =
    "usage: fake-portal (--demo | --scenario FILE | --generate N [--seed S]) [--port P]";

enum Source {
    Demo,
    File(PathBuf),
    Generate(usize),
}

fn parse(args: &[String]) -> Result<(Source, u64, u16), String> {
    let mut source = None;
    let mut seed = 1;
    let mut port = 0;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--demo" => source = Some(Source::Demo),
            "--scenario" => source = Some(Source::File(PathBuf::from(value("--scenario")?))),
            "--generate" => {
                let n = value("--generate")?;
                source = Some(Source::Generate(
                    n.parse()
                        .map_err(|_| format!("--generate: not a number: {n}"))?,
                ));
            }
            "--seed" => {
                let s = value("--seed")?;
                seed = s
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {s}"))?;
            }
            "--port" => {
                let p = value("--port")?;
                port = p.parse().map_err(|_| format!("--port: not a port: {p}"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let source =
        source.ok_or_else(|| "one of --demo, --scenario or --generate is required".to_string())?;
    Ok((source, seed, port))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (source, seed, port) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("fake-portal: {message}");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let scenario = match source {
        Source::Demo => Scenario::demo(),
        Source::Generate(n) => Scenario::generate(GenerateSpec::scaled(n), seed),
        Source::File(path) => match Scenario::load(&path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fake-portal: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let portal = match FakePortal::start_on(scenario, port).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fake-portal: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("base_url = {}", portal.base_url());
    println!("token    = {}", portal.token());
    println!(
        "try: curl -H 'Authorization: Bearer {}' {}/api/2.0/people/@self",
        portal.token(),
        portal.base_url()
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("fake-portal: cannot wait for Ctrl-C: {e}");
    }
    portal.shutdown().await;
    ExitCode::SUCCESS
}
