//! Ready-made scenarios: a small realistic `demo` portal and large
//! deterministic generated portals for benchmarks.
//!
//! Generation uses only a seeded `fastrand::Rng` and ordered collections, so
//! the same spec and seed always give the same scenario.

use std::collections::HashSet;

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};

use crate::scenario::{
    AuditEventSpec, GroupSpec, LinkKind, LinkSpec, RoomId, RoomKind, RoomSpec, Scenario, ShareSpec,
    UserKind, UserSpec, UserStatus,
};

/// How big a generated portal is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenerateSpec {
    pub archived_rooms: usize,
    pub active_rooms: usize,
    /// User/group share rows, spread over all rooms.
    pub share_entries: usize,
    /// Links (mostly external), spread over all rooms.
    pub links: usize,
    /// Non-guest accounts besides the owner and the key user.
    pub users: usize,
    pub guests: usize,
}

impl GenerateSpec {
    /// A benchmark-sized portal scaled from a number of archived rooms:
    /// a tenth as many active rooms, five share rows and one link per
    /// archived room, half as many users and a fifth as many guests.
    pub fn scaled(archived_rooms: usize) -> GenerateSpec {
        GenerateSpec {
            archived_rooms,
            active_rooms: archived_rooms / 10,
            share_entries: archived_rooms * 5,
            links: archived_rooms,
            users: (archived_rooms / 2).max(5),
            guests: (archived_rooms / 5).max(2),
        }
    }
}

fn guid(rng: &mut fastrand::Rng) -> String {
    crate::model::guid(rng)
}

const FIRST: [&str; 16] = [
    "Anna", "Boris", "Carla", "David", "Elena", "Felix", "Greta", "Hugo", "Irene", "Jonas",
    "Klara", "Lukas", "Maria", "Nils", "Olga", "Peter",
];
const LAST: [&str; 16] = [
    "Meyer", "Novak", "Rossi", "Dubois", "Silva", "Jansen", "Kowalski", "Berg", "Larsen", "Costa",
    "Horvat", "Weber", "Moreau", "Fischer", "Lind", "Ivanova",
];
const PARTNERS: [&str; 5] = [
    "partner-one.example",
    "lawfirm.example",
    "freelance.example",
    "supplier.example",
    "agency.example",
];
const ROOM_KINDS: [RoomKind; 5] = [
    RoomKind::Custom,
    RoomKind::Custom,
    RoomKind::Editing,
    RoomKind::Vdr,
    RoomKind::Public,
];

impl Scenario {
    /// A deterministic portal of the given size for benchmarks. The key
    /// user is a DocSpace admin; room ids start at 10 000.
    pub fn generate(spec: GenerateSpec, seed: u64) -> Scenario {
        let mut rng = fastrand::Rng::with_seed(seed);
        let base = Utc
            .with_ymd_and_hms(2024, 1, 1, 8, 0, 0)
            .single()
            .unwrap_or_else(Utc::now);
        let at = |rng: &mut fastrand::Rng, max_days: i64| {
            base + Duration::minutes(rng.i64(0..max_days * 24 * 60))
        };

        let owner = UserSpec::new(
            &guid(&mut rng),
            "Portal",
            "Owner",
            "owner@corp.example",
            UserKind::Owner,
        );
        let key = UserSpec::new(
            &guid(&mut rng),
            "Audit",
            "Bot",
            "auditor@corp.example",
            UserKind::DocspaceAdmin,
        );
        let mut scenario = Scenario::new(key.clone());
        scenario.users.insert(0, owner.clone());
        scenario.seed = seed;
        scenario.token = format!(
            "sk-{:016x}{:016x}{:016x}{:016x}",
            rng.u64(..),
            rng.u64(..),
            rng.u64(..),
            rng.u64(..)
        );

        let mut staff: Vec<String> = vec![owner.id.clone(), key.id.clone()];
        let mut managers: Vec<String> = vec![owner.id.clone(), key.id.clone()];
        for i in 0..spec.users {
            let kind = match rng.u8(0..100) {
                0..=2 => UserKind::DocspaceAdmin,
                3..=14 => UserKind::RoomAdmin,
                _ => UserKind::User,
            };
            let first = FIRST[rng.usize(..FIRST.len())];
            let last = LAST[rng.usize(..LAST.len())];
            let mut u = UserSpec::new(
                &guid(&mut rng),
                first,
                last,
                &format!(
                    "{}.{}{i}@corp.example",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
                kind,
            );
            u.registered = Some(at(&mut rng, 200));
            if rng.u8(0..100) < 8 {
                let when = at(&mut rng, 600);
                u = u.terminated(rng.bool().then_some(when));
            }
            if matches!(kind, UserKind::DocspaceAdmin | UserKind::RoomAdmin) {
                managers.push(u.id.clone());
            }
            staff.push(u.id.clone());
            scenario.users.push(u);
        }
        let mut guests: Vec<String> = Vec::new();
        for i in 0..spec.guests {
            let first = FIRST[rng.usize(..FIRST.len())];
            let last = LAST[rng.usize(..LAST.len())];
            let domain = PARTNERS[rng.usize(..PARTNERS.len())];
            let mut g = UserSpec::new(
                &guid(&mut rng),
                first,
                last,
                &format!(
                    "{}.{}{i}@{domain}",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
                UserKind::Guest,
            );
            g.invited_by = Some(managers[rng.usize(..managers.len())].clone());
            g.status = match rng.u8(0..100) {
                0..=4 => UserStatus::Terminated,
                5..=9 => UserStatus::Pending,
                _ => UserStatus::Active,
            };
            g.registered = Some(at(&mut rng, 400));
            guests.push(g.id.clone());
            scenario.users.push(g);
        }
        // Teams of about 25: a third of the staff is in one team.
        let group_count = (spec.users / 75).max(1);
        let mut members: Vec<Vec<String>> = vec![Vec::new(); group_count];
        for s in &staff {
            if rng.u8(0..3) == 0 {
                members[rng.usize(..group_count)].push(s.clone());
            }
        }
        let mut groups: Vec<String> = Vec::new();
        for (i, members) in members.into_iter().enumerate() {
            let id = guid(&mut rng);
            scenario.groups.push(GroupSpec {
                id: id.clone(),
                name: format!("Team {i:03}"),
                manager: members.first().cloned(),
                members,
            });
            groups.push(id);
        }

        let total_rooms = spec.archived_rooms + spec.active_rooms;
        let mut archived_left = spec.archived_rooms;
        for i in 0..total_rooms {
            // Interleave archived and active rooms the way time does.
            let remaining = total_rooms - i;
            let archived = rng.usize(..remaining) < archived_left;
            if archived {
                archived_left -= 1;
            }
            let kind = ROOM_KINDS[rng.usize(..ROOM_KINDS.len())];
            let created = at(&mut rng, 700);
            // About one room in a thousand sits on third-party storage and
            // has a string id (API-NOTES §16).
            let id = if i % 997 == 101 {
                RoomId::Text(format!("sbox-{}", 10_000 + i))
            } else {
                RoomId::Int(10_000 + i as i64)
            };
            let mut room = RoomSpec::new(
                id,
                &format!("Client {:05} {}", i, LAST[rng.usize(..LAST.len())]),
                kind,
                &managers[rng.usize(..managers.len())],
                created,
            );
            room.archived = archived;
            room.updated = Some(created + Duration::days(rng.i64(0..200)));
            room.files_count = rng.u32(0..40);
            room.folders_count = rng.u32(0..6);
            scenario.rooms.push(room);
        }
        if !scenario.rooms.is_empty() {
            let mut subjects: Vec<HashSet<String>> = vec![HashSet::new(); scenario.rooms.len()];
            for (i, r) in scenario.rooms.iter().enumerate() {
                subjects[i].insert(r.owner.clone());
            }
            let mut placed = 0;
            let mut attempts = 0;
            while placed < spec.share_entries && attempts < spec.share_entries * 4 {
                attempts += 1;
                let ri = rng.usize(..scenario.rooms.len());
                let roll = rng.u8(0..100);
                let (subject, is_group, is_plain) = if roll < 5 && !groups.is_empty() {
                    (groups[rng.usize(..groups.len())].clone(), true, false)
                } else if roll < 35 && !guests.is_empty() {
                    (guests[rng.usize(..guests.len())].clone(), false, true)
                } else {
                    let s = staff[rng.usize(..staff.len())].clone();
                    let plain = !managers.contains(&s);
                    (s, false, plain)
                };
                if !subjects[ri].insert(subject.clone()) {
                    continue;
                }
                let room = &mut scenario.rooms[ri];
                let mut allowed: Vec<u8> = if is_group {
                    room.kind.group_accesses()
                } else {
                    room.kind.user_accesses().to_vec()
                };
                allowed.retain(|a| *a != 0 && !(is_plain && *a == 9));
                if allowed.is_empty() {
                    continue;
                }
                let access = allowed[rng.usize(..allowed.len())];
                let granted_by = if rng.u8(0..100) < 70 {
                    None
                } else {
                    Some(managers[rng.usize(..managers.len())].clone())
                };
                room.shares.push(ShareSpec {
                    subject,
                    access,
                    granted_by,
                });
                placed += 1;
            }
            for _ in 0..spec.links {
                let ri = rng.usize(..scenario.rooms.len());
                let id = guid(&mut rng);
                let room = &mut scenario.rooms[ri];
                let invitation = rng.u8(0..100) < 15;
                let has_primary = room.links.iter().any(|l| l.primary);
                let primary = !invitation && !has_primary && rng.bool();
                let mut link = LinkSpec::external(
                    &id,
                    if primary {
                        "Shared link"
                    } else {
                        "Additional link"
                    },
                );
                if invitation {
                    link.kind = LinkKind::Invitation;
                    link.title = "Invitation link".to_string();
                }
                link.primary = primary;
                link.internal = rng.u8(0..100) < 20;
                if rng.u8(0..100) < 30 {
                    link.expiration = Some(base + Duration::days(rng.i64(0..1200)));
                }
                if rng.u8(0..100) < 10 {
                    link.password = Some(format!("pw-{:08x}", rng.u32(..)));
                }
                link.deny_download = rng.u8(0..100) < 10;
                room.links.push(link);
            }
        }
        for u in scenario.users.clone() {
            if u.status == UserStatus::Terminated && u.kind != UserKind::Guest {
                scenario.audit_events.push(AuditEventSpec {
                    id: None,
                    date: u
                        .terminated
                        .unwrap_or(base + Duration::days(rng.i64(0..600))),
                    user_id: key.id.clone(),
                    action_id: 4020,
                    action: None,
                    target: vec![u.id.clone()],
                    action_type: None,
                    entry_type: None,
                    location: None,
                });
            }
        }
        scenario
    }

    /// The demo portal, dated relative to now.
    pub fn demo() -> Scenario {
        let now = Utc::now();
        // Whole seconds read better in a demo's reports.
        Scenario::demo_at(now.with_nanosecond(0).unwrap_or(now))
    }

    /// A small realistic portal, dated relative to `now`:
    /// - the key user Ada is a DocSpace admin; Arne, the archive owner, too;
    /// - six archived client rooms, some with partner guests and external
    ///   links, one with nothing wrong;
    /// - an active "Offboarding archive" room whose access drifted: an extra
    ///   regular user, and the HR group missing;
    /// - Dieter, a disabled employee, still owns an active and an archived
    ///   room;
    /// - Olga, a guest who is in no active room;
    /// - an HR group, a Sales group, and one third-party (string id) room.
    pub fn demo_at(now: DateTime<Utc>) -> Scenario {
        let user = |n: u32| format!("6f0e5b1c-1d2e-4a3b-9c4d-{n:012x}");
        let group = |n: u32| format!("9b2d7e4a-5c6f-4d8e-a1b2-{n:012x}");
        let link = |n: u32| format!("7f1c3a5e-2b4d-4c6e-8f0a-{n:012x}");
        let days = |d: i64| now - Duration::days(d);

        let ada = user(1);
        let olivia = user(2);
        let arne = user(3);
        let hanna = user(4);
        let henrik = user(5);
        let rita = user(6);
        let sam = user(7);
        let tom = user(8);
        let dieter = user(9);
        let gina = user(10);
        let paul = user(11);
        let olga = user(12);
        let hr = group(1);
        let sales = group(2);

        let mut key = UserSpec::new(
            &ada,
            "Ada",
            "Auditor",
            "ada.auditor@acme.example",
            UserKind::DocspaceAdmin,
        );
        key.registered = Some(days(900));
        let mut s = Scenario::new(key);
        s.seed = 2026;
        let mut add = |mut u: UserSpec, registered: i64| {
            u.registered = Some(days(registered));
            s.users.push(u);
        };
        add(
            UserSpec::new(
                &olivia,
                "Olivia",
                "Owner",
                "olivia.owner@acme.example",
                UserKind::Owner,
            ),
            1200,
        );
        add(
            UserSpec::new(
                &arne,
                "Arne",
                "Archivist",
                "arne.archivist@acme.example",
                UserKind::DocspaceAdmin,
            ),
            800,
        );
        add(
            UserSpec::new(
                &hanna,
                "Hanna",
                "Holm",
                "hanna.holm@acme.example",
                UserKind::User,
            ),
            700,
        );
        add(
            UserSpec::new(
                &henrik,
                "Henrik",
                "Hald",
                "henrik.hald@acme.example",
                UserKind::User,
            ),
            650,
        );
        add(
            UserSpec::new(
                &rita,
                "Rita",
                "Regular",
                "rita.regular@acme.example",
                UserKind::User,
            ),
            600,
        );
        add(
            UserSpec::new(
                &sam,
                "Sam",
                "Seller",
                "sam.seller@acme.example",
                UserKind::RoomAdmin,
            ),
            750,
        );
        add(
            UserSpec::new(&tom, "Tom", "Team", "tom.team@acme.example", UserKind::User),
            500,
        );
        add(
            UserSpec::new(
                &dieter,
                "Dieter",
                "Departed",
                "dieter.departed@acme.example",
                UserKind::RoomAdmin,
            )
            .terminated(Some(days(45))),
            1000,
        );
        add(
            UserSpec::new(
                &gina,
                "Gina",
                "Guest",
                "gina@partner-one.example",
                UserKind::Guest,
            )
            .invited_by(&sam),
            300,
        );
        add(
            UserSpec::new(
                &paul,
                "Paul",
                "Partner",
                "paul@lawfirm.example",
                UserKind::Guest,
            )
            .invited_by(&ada),
            280,
        );
        add(
            UserSpec::new(
                &olga,
                "Olga",
                "Orphan",
                "olga@freelance.example",
                UserKind::Guest,
            )
            .invited_by(&ada),
            420,
        );
        s.groups = vec![
            GroupSpec {
                id: hr.clone(),
                name: "HR".to_string(),
                manager: Some(hanna.clone()),
                members: vec![hanna.clone(), henrik.clone()],
            },
            GroupSpec {
                id: sales.clone(),
                name: "Sales".to_string(),
                manager: Some(sam.clone()),
                members: vec![sam.clone(), rita.clone(), tom.clone()],
            },
        ];

        let room =
            |id: i64, title: &str, kind: RoomKind, owner: &str, created: i64, updated: i64| {
                let mut r = RoomSpec::new(id, title, kind, owner, days(created));
                r.updated = Some(days(updated));
                r.files_count = 12;
                r.folders_count = 3;
                r
            };
        let mut alpha_link = LinkSpec::external(&link(1), "Alpha review link");
        alpha_link.password = Some("alpha-2024".to_string());
        let mut beta_primary = LinkSpec::external(&link(2), "Shared link");
        beta_primary.primary = true;
        let mut epsilon_link = LinkSpec::external(&link(3), "Support portal link");
        epsilon_link.internal = true;
        epsilon_link.expiration = Some(days(20));
        let zeta_link = LinkSpec::external(&link(4), "Pitch deck");
        let mut gamma_invite = LinkSpec::external(&link(5), "Invitation link");
        gamma_invite.kind = LinkKind::Invitation;

        s.rooms = vec![
            room(
                101,
                "Client Alpha - 2024 audit",
                RoomKind::Custom,
                &sam,
                420,
                120,
            )
            .archived()
            .share_granted_by(&gina, 2, &sam)
            .share(&rita, 10)
            .link(alpha_link),
            room(
                102,
                "Client Beta onboarding",
                RoomKind::Public,
                &ada,
                380,
                100,
            )
            .archived()
            .share_granted_by(&paul, 11, &ada)
            .link(beta_primary),
            room(
                103,
                "Client Gamma contract",
                RoomKind::Vdr,
                &dieter,
                360,
                90,
            )
            .archived()
            .share_granted_by(&olga, 2, &ada)
            .share(&tom, 2)
            .link(gamma_invite),
            room(
                104,
                "Client Delta - closed",
                RoomKind::Editing,
                &arne,
                340,
                80,
            )
            .archived()
            .share(&hr, 2)
            .share(&hanna, 10),
            room(
                105,
                "Client Epsilon support",
                RoomKind::Custom,
                &sam,
                300,
                60,
            )
            .archived()
            .share_granted_by(&gina, 2, &sam)
            .link(epsilon_link),
            room(106, "Client Zeta pitch", RoomKind::Custom, &ada, 250, 30)
                .archived()
                .share_granted_by(&paul, 6, &ada)
                .share(&sales, 2)
                .link(zeta_link),
            room(201, "Offboarding archive", RoomKind::Custom, &arne, 600, 10).share(&rita, 2),
            room(202, "Project Phoenix", RoomKind::Editing, &dieter, 200, 50)
                .share(&tom, 10)
                .share(&sam, 9),
            room(203, "Sales playbook", RoomKind::Custom, &sam, 150, 5)
                .share(&sales, 10)
                .share_granted_by(&gina, 2, &sam),
            {
                let mut r = RoomSpec::new(
                    "sbox-4711",
                    "Dropbox - shared drawings",
                    RoomKind::Custom,
                    &ada,
                    days(90),
                );
                r.updated = Some(days(12));
                r.shares.push(ShareSpec {
                    subject: tom.clone(),
                    access: 2,
                    granted_by: None,
                });
                r
            },
        ];
        let event = |d: i64, by: &str, action_id: i32, target: Vec<String>| AuditEventSpec {
            id: None,
            date: days(d),
            user_id: by.to_string(),
            action_id,
            action: None,
            target,
            action_type: None,
            entry_type: None,
            location: None,
        };
        s.audit_events = vec![
            event(120, &sam, 5072, vec!["101".into()]),
            event(100, &ada, 5072, vec!["102".into()]),
            event(90, &dieter, 5072, vec!["103".into()]),
            event(80, &arne, 5072, vec!["104".into()]),
            event(60, &sam, 5072, vec!["105".into()]),
            event(45, &ada, 4020, vec![dieter.clone()]),
            event(30, &ada, 5072, vec!["106".into()]),
            event(1, &ada, 1000, vec![]),
        ];
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_sized() {
        let spec = GenerateSpec {
            archived_rooms: 300,
            active_rooms: 40,
            share_entries: 1500,
            links: 300,
            users: 150,
            guests: 60,
        };
        let a = Scenario::generate(spec, 42);
        assert_eq!(a, Scenario::generate(spec, 42));
        assert_ne!(a, Scenario::generate(spec, 43));
        assert_eq!(a.rooms.iter().filter(|r| r.archived).count(), 300);
        assert_eq!(a.rooms.len(), 340);
        assert_eq!(a.rooms.iter().map(|r| r.shares.len()).sum::<usize>(), 1500);
        assert_eq!(a.rooms.iter().map(|r| r.links.len()).sum::<usize>(), 300);
        assert_eq!(a.users.len(), 2 + 150 + 60);
        assert!(a.rooms.iter().any(|r| matches!(r.id, RoomId::Text(_))));
        a.validate().unwrap();
    }

    #[test]
    fn demo_is_consistent() {
        let d = Scenario::demo();
        d.validate().unwrap();
        assert_eq!(d.rooms.iter().filter(|r| r.archived).count(), 6);
        assert!(d.rooms.iter().any(|r| matches!(r.id, RoomId::Text(_))));
    }
}
