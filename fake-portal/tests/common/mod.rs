//! Shared helpers for the fake portal's integration tests: a plain HTTP
//! client and a small scenario with known ids.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use docspace_fake_portal::{
    FakePortal, GroupSpec, LinkSpec, RoomKind, RoomSpec, Scenario, UserKind, UserSpec,
};
use serde_json::Value;

pub const OWNER: &str = "00000000-0000-4000-8000-000000000001";
pub const ADMIN: &str = "00000000-0000-4000-8000-000000000002";
pub const RADMIN: &str = "00000000-0000-4000-8000-000000000003";
pub const USER: &str = "00000000-0000-4000-8000-000000000004";
pub const GUEST: &str = "00000000-0000-4000-8000-000000000005";
pub const GUEST2: &str = "00000000-0000-4000-8000-000000000006";
pub const GONE: &str = "00000000-0000-4000-8000-000000000007";
pub const ADMIN2: &str = "00000000-0000-4000-8000-000000000008";
pub const HR: &str = "00000000-0000-4000-9000-0000000000a1";
pub const L_PLAIN: &str = "00000000-0000-4000-a000-000000000001";
pub const L_INTERNAL: &str = "00000000-0000-4000-a000-000000000002";
pub const L_PRIMARY_PUBLIC: &str = "00000000-0000-4000-a000-000000000003";
pub const L_CUSTOM_ACTIVE: &str = "00000000-0000-4000-a000-000000000004";

/// A small portal:
/// - 42: archived custom room of ADMIN with GUEST (granted by ADMIN),
///   USER, the HR group, GUEST2 (granted by RADMIN) and two external links;
/// - 43: active public room of RADMIN with USER and a primary link;
/// - 44: active custom room of GONE (terminated) with GUEST, one link;
/// - 45: archived custom room of GONE;
/// - sbox-4711: active third-party room of ADMIN.
pub fn fixture() -> Scenario {
    let t = |d: u32| Utc.with_ymd_and_hms(2026, 1, d, 9, 30, 0).unwrap();
    let mut s = Scenario::new(UserSpec::new(
        ADMIN,
        "Ada",
        "Admin",
        "ada@corp.example",
        UserKind::DocspaceAdmin,
    ));
    s.users.push(UserSpec::new(
        OWNER,
        "Olivia",
        "Owner",
        "olivia@corp.example",
        UserKind::Owner,
    ));
    s.users.push(UserSpec::new(
        RADMIN,
        "Rob",
        "Roomadmin",
        "rob@corp.example",
        UserKind::RoomAdmin,
    ));
    s.users.push(UserSpec::new(
        USER,
        "Uma",
        "User",
        "uma@corp.example",
        UserKind::User,
    ));
    s.users.push(
        UserSpec::new(
            GUEST,
            "Gina",
            "Guest",
            "gina@partner.example",
            UserKind::Guest,
        )
        .invited_by(ADMIN),
    );
    let mut g2 = UserSpec::new(
        GUEST2,
        "Gus",
        "Guest",
        "gus@partner.example",
        UserKind::Guest,
    )
    .invited_by(RADMIN);
    g2.guest_of.push(ADMIN.to_string());
    s.users.push(g2);
    s.users.push(
        UserSpec::new(
            GONE,
            "Dieter",
            "Departed",
            "dieter@corp.example",
            UserKind::RoomAdmin,
        )
        .terminated(None),
    );
    s.users.push(UserSpec::new(
        ADMIN2,
        "Abe",
        "Admin",
        "abe@corp.example",
        UserKind::DocspaceAdmin,
    ));
    s.groups.push(GroupSpec {
        id: HR.to_string(),
        name: "HR".to_string(),
        manager: Some(USER.to_string()),
        members: vec![USER.to_string()],
    });
    let mut internal = LinkSpec::external(L_INTERNAL, "Internal link");
    internal.internal = true;
    internal.expiration = Some(t(28));
    let mut primary = LinkSpec::external(L_PRIMARY_PUBLIC, "Shared link");
    primary.primary = true;
    s.rooms = vec![
        RoomSpec::new(42, "Client X", RoomKind::Custom, ADMIN, t(1))
            .archived()
            .share_granted_by(GUEST, 2, ADMIN)
            .share(USER, 2)
            .share(HR, 2)
            .share_granted_by(GUEST2, 2, RADMIN)
            .link(LinkSpec::external(L_PLAIN, "Plain link"))
            .link(internal),
        RoomSpec::new(43, "Public stuff", RoomKind::Public, RADMIN, t(2))
            .share(USER, 11)
            .link(primary),
        RoomSpec::new(44, "Phoenix", RoomKind::Custom, GONE, t(3))
            .share_granted_by(GUEST, 2, ADMIN)
            .link(LinkSpec::external(L_CUSTOM_ACTIVE, "Review")),
        RoomSpec::new(45, "Old Phoenix", RoomKind::Custom, GONE, t(4)).archived(),
        RoomSpec::new("sbox-4711", "Dropbox room", RoomKind::Custom, ADMIN, t(5)).share(USER, 2),
    ];
    s.fileops_polls = 2;
    s
}

pub struct Resp {
    pub status: u16,
    pub text: String,
    pub retry_after: Option<String>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn response(&self) -> Value {
        self.json().get("response").cloned().unwrap_or(Value::Null)
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(portal: &FakePortal) -> Client {
        Client::with_timeout(portal, Duration::from_secs(10))
    }

    pub fn with_timeout(portal: &FakePortal, timeout: Duration) -> Client {
        Client {
            http: reqwest::Client::builder().timeout(timeout).build().unwrap(),
            base: portal.base_url(),
            token: Some(portal.token()),
        }
    }

    pub fn anonymous(portal: &FakePortal) -> Client {
        let mut c = Client::new(portal);
        c.token = None;
        c
    }

    pub fn with_token(portal: &FakePortal, token: &str) -> Client {
        let mut c = Client::new(portal);
        c.token = Some(token.to_string());
        c
    }

    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> reqwest::Result<Resp> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}/api/2.0/{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.text().await?;
        Ok(Resp {
            status,
            text,
            retry_after,
        })
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        self.try_send(method, path, body).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send("PUT", path, Some(&body.to_string())).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(&body.to_string())).await
    }

    pub async fn delete(&self, path: &str, body: Value) -> Resp {
        self.send("DELETE", path, Some(&body.to_string())).await
    }

    /// Polls `files/fileops?id=` until the operation finishes.
    pub async fn wait_op(&self, op: &Value) -> Value {
        let id = op["id"].as_str().unwrap().to_string();
        for _ in 0..50 {
            let r = self.get(&format!("files/fileops?id={id}")).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let item = r.response()[0].clone();
            if item["finished"] == Value::Bool(true) {
                return item;
            }
        }
        panic!("operation {id} never finished");
    }
}

/// The error message of an error envelope.
pub fn error_message(r: &Resp) -> String {
    r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
