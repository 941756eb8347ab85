//! Which HTTP proxy, if any, stands between the auditor and the portal:
//! `portal.proxy` when set, otherwise the variables curl reads
//! (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, or their lower-case forms).
//!
//! Only an `https` portal goes through a proxy, by `CONNECT`, so the proxy
//! carries TLS and never sees the token. A plain-http portal is allowed only
//! on loopback, which no proxy can reach.

use hyper_util::client::proxy::matcher::Matcher;

use super::Problems;
use crate::api::PortalProxy;

const KEY: &str = "portal.proxy";

/// The proxy for `base_url`, or `None` to connect directly. Problems are
/// pushed under the key or variable they come from; the value itself is
/// never echoed, as it may hold a password.
pub(super) fn portal_proxy(
    setting: Option<&str>,
    base_url: &url::Url,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<PortalProxy> {
    let https = base_url.scheme() == "https";
    if let Some(setting) = setting.map(str::trim) {
        if setting.eq_ignore_ascii_case("none") {
            return None;
        }
        if !https {
            p.push(
                KEY,
                "a proxy is used only for an https portal (a plain-http portal is on loopback and reached directly)",
            );
            return None;
        }
        let url = parse(setting, KEY, p)?;
        if !url.username().is_empty() || url.password().is_some() {
            p.push(
                KEY,
                "must not contain credentials: config.toml holds no secrets; put the proxy URL with its credentials in HTTPS_PROXY in the service's environment instead",
            );
            return None;
        }
        return Some(PortalProxy {
            uri: authority_uri(&url, KEY, p)?,
            authorization: None,
            source: KEY,
        });
    }
    if !https {
        return None;
    }
    if env("REQUEST_METHOD").is_some() {
        // As curl: under CGI a request header may have set these (httpoxy).
        return None;
    }
    let (name, value) = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .find_map(|name| {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        })?;
    let url = parse(&value, name, p)?;
    let no_proxy = ["NO_PROXY", "no_proxy"]
        .into_iter()
        .find_map(env)
        .unwrap_or_default();
    let target: http::Uri = base_url.as_str().parse().ok()?;
    // NO_PROXY as curl reads it (suffixes, `*`, addresses and networks).
    let intercept = Matcher::builder()
        .https(url.as_str())
        .no(no_proxy)
        .build()
        .intercept(&target)?;
    Some(PortalProxy {
        uri: authority_uri(&url, name, p)?,
        authorization: intercept.basic_auth().cloned(),
        source: name,
    })
}

/// Parses a proxy URL as curl would: `host:port` alone means `http://`.
fn parse(value: &str, key: &str, p: &mut Problems) -> Option<url::Url> {
    let value = value.trim();
    let text = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    match url::Url::parse(&text) {
        Ok(url) if url.scheme() == "http" && url.host_str().is_some() => Some(url),
        Ok(url) => {
            p.push(
                key,
                format!(
                    "only an http:// proxy (reached with CONNECT) is supported, not {}://",
                    url.scheme()
                ),
            );
            None
        }
        Err(e) => {
            p.push(key, format!("not a proxy URL: {e}"));
            None
        }
    }
}

/// `http://host:port`: what the tunnel connects to, without credentials.
fn authority_uri(url: &url::Url, key: &str, p: &mut Problems) -> Option<http::Uri> {
    let host = url.host_str()?;
    let port = url.port_or_known_default().unwrap_or(80);
    match format!("http://{host}:{port}").parse() {
        Ok(uri) => Some(uri),
        Err(e) => {
            p.push(key, format!("not a usable proxy address: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        setting: Option<&str>,
        base: &str,
        vars: &[(&str, &str)],
    ) -> (Option<PortalProxy>, Vec<String>) {
        let base = url::Url::parse(base).unwrap();
        let env = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        let mut p = Problems::default();
        let proxy = portal_proxy(setting, &base, &env, &mut p);
        let problems = p.0.into_iter().map(|p| format!("{}: {}", p.key, p.message));
        (proxy, problems.collect())
    }

    #[test]
    fn environment_proxy_applies_to_an_https_portal() {
        let (proxy, problems) = resolve(
            None,
            "https://portal.example.com",
            &[("HTTPS_PROXY", "http://user:s3cret@proxy.corp:3128")],
        );
        assert!(problems.is_empty(), "{problems:?}");
        let proxy = proxy.unwrap();
        assert_eq!(proxy.uri, "http://proxy.corp:3128/");
        assert_eq!(proxy.source, "HTTPS_PROXY");
        // user:s3cret in Basic form, and never in the Debug text.
        assert_eq!(
            proxy.authorization.as_ref().unwrap(),
            "Basic dXNlcjpzM2NyZXQ="
        );
        assert!(!format!("{proxy:?} {proxy}").contains("s3cret"));
        assert!(!format!("{proxy:?}").contains("dXNlcjpzM2NyZXQ"));
    }

    #[test]
    fn lower_case_and_all_proxy_are_read_and_bare_host_port_means_http() {
        let (proxy, _) = resolve(
            None,
            "https://portal.example.com",
            &[("all_proxy", "proxy.corp:8080")],
        );
        let proxy = proxy.unwrap();
        assert_eq!(proxy.uri, "http://proxy.corp:8080/");
        assert_eq!(proxy.source, "all_proxy");
        assert!(proxy.authorization.is_none());
    }

    #[test]
    fn no_proxy_and_cgi_and_loopback_go_direct() {
        let vars = [
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("NO_PROXY", "localhost,.example.com"),
        ];
        assert!(
            resolve(None, "https://portal.example.com", &vars)
                .0
                .is_none()
        );
        assert!(resolve(None, "https://portal.other.org", &vars).0.is_some());
        let cgi = [
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("REQUEST_METHOD", "GET"),
        ];
        assert!(resolve(None, "https://portal.other.org", &cgi).0.is_none());
        // The demo and the tests: plain http on loopback, never proxied.
        let (proxy, problems) = resolve(None, "http://127.0.0.1:8080", &vars);
        assert!(proxy.is_none() && problems.is_empty());
    }

    #[test]
    fn the_setting_wins_over_the_environment() {
        let vars = [("HTTPS_PROXY", "http://proxy.corp:3128")];
        let (proxy, _) = resolve(Some("none"), "https://portal.example.com", &vars);
        assert!(proxy.is_none());
        let (proxy, problems) = resolve(
            Some("http://egress.corp:3129"),
            "https://portal.example.com",
            &vars,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let proxy = proxy.unwrap();
        assert_eq!(proxy.uri, "http://egress.corp:3129/");
        assert_eq!(proxy.source, "portal.proxy");
    }

    #[test]
    fn bad_proxies_name_their_source_and_not_their_secret() {
        let (_, problems) = resolve(
            Some("http://user:pw@egress.corp:3129"),
            "https://portal.example.com",
            &[],
        );
        assert!(problems[0].starts_with("portal.proxy: must not contain credentials"));
        let (_, problems) = resolve(
            None,
            "https://portal.example.com",
            &[("HTTPS_PROXY", "socks5://user:pw@proxy:1080")],
        );
        assert_eq!(
            problems,
            [
                "HTTPS_PROXY: only an http:// proxy (reached with CONNECT) is supported, not socks5://"
            ]
        );
        let (_, problems) = resolve(
            Some("http://egress.corp:3129"),
            "http://127.0.0.1:8080",
            &[],
        );
        assert!(problems[0].starts_with("portal.proxy: a proxy is used only for an https portal"));
        assert!(problems.iter().all(|p| !p.contains("pw@")));
    }
}
