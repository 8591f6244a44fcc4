//! One-time user tokens (invitations and password resets), the last-admin rule,
//! and listing and ending a user's sessions. SQLite always, PostgreSQL when
//! `PERISCOPE_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Utc};
use common::{at, backend_test};
use periscope_store::UserId;
use periscope_store::{ErrorClass, Role, Store, StoreError, TokenKind, UserStore, UserToken};

const DAY: i64 = 86_400;

fn invite(
    email: &str,
    role: Role,
    by: Option<periscope_store::UserId>,
    now: DateTime<Utc>,
) -> UserToken {
    UserToken {
        kind: TokenKind::Invite,
        email: email.to_owned(),
        role,
        user_id: None,
        created_by: by,
        created_at: now,
        expires_at: now + chrono::Duration::days(7),
        used_at: None,
    }
}

fn reset(store: &Store, user_id: periscope_store::UserId, now: DateTime<Utc>) -> UserToken {
    let user = store.get_user(UserId(user_id.get())).unwrap().unwrap();
    UserToken {
        kind: TokenKind::Reset,
        email: user.email,
        role: user.role,
        user_id: Some(UserId(user_id.get())),
        created_by: None,
        created_at: now,
        expires_at: now + chrono::Duration::days(1),
        used_at: None,
    }
}

fn emails(tokens: &[UserToken]) -> Vec<&str> {
    tokens.iter().map(|t| t.email.as_str()).collect()
}

backend_test!(invitations_are_single_use_and_expire, |_db, store| {
    let ann = store
        .create_user("ann@example.com", "h", &Role::Admin, at(0))
        .unwrap();
    let made = store
        .create_user_token(
            "inv-bob",
            &invite(
                "Bob@Example.com",
                Role::Member,
                Some(UserId(ann.id.get())),
                at(10),
            ),
        )
        .unwrap();
    assert_eq!(made.email, "bob@example.com", "stored lower-cased");
    assert_eq!(made.kind, TokenKind::Invite);
    assert_eq!(made.created_by, Some(ann.id));
    assert_eq!(made.expires_at, at(10 + 7 * DAY));
    assert_eq!(made.used_at, None);

    // Found while unused and unexpired, and only as its own kind.
    let found = store
        .user_token(&TokenKind::Invite, "inv-bob", at(11))
        .unwrap()
        .unwrap();
    assert_eq!(found, made);
    assert_eq!(
        store
            .user_token(&TokenKind::Reset, "inv-bob", at(11))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .user_token(&TokenKind::Invite, "nope", at(11))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .user_token(&TokenKind::Invite, "inv-bob", at(10 + 7 * DAY))
            .unwrap(),
        None,
        "expired at its time"
    );
    // Expired: cannot be redeemed either.
    assert_eq!(
        store
            .redeem_user_token(&TokenKind::Invite, "inv-bob", "pw", at(10 + 7 * DAY))
            .unwrap(),
        None
    );
    // A reset cannot redeem an invitation.
    assert_eq!(
        store
            .redeem_user_token(&TokenKind::Reset, "inv-bob", "pw", at(20))
            .unwrap(),
        None
    );

    let bob = store
        .redeem_user_token(&TokenKind::Invite, "inv-bob", "bob-hash", at(20))
        .unwrap()
        .unwrap();
    assert_eq!(bob.email, "bob@example.com");
    assert_eq!(bob.role, Role::Member);
    assert_eq!(bob.password_hash, "bob-hash");
    assert_eq!(bob.created_at, at(20));
    // Once only.
    assert_eq!(
        store
            .redeem_user_token(&TokenKind::Invite, "inv-bob", "other", at(21))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .user_token(&TokenKind::Invite, "inv-bob", at(21))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .user_by_email("bob@example.com")
            .unwrap()
            .unwrap()
            .password_hash,
        "bob-hash"
    );
    assert!(store.pending_invitations(at(21)).unwrap().is_empty());

    // Used and expired tokens are pruned at their expiry.
    assert_eq!(store.prune_user_tokens(at(10 + 7 * DAY - 1)).unwrap(), 0);
    assert_eq!(store.prune_user_tokens(at(10 + 7 * DAY)).unwrap(), 1);
});

backend_test!(
    one_pending_invitation_per_email_and_none_for_users,
    |_db, store| {
        let ann = store
            .create_user("ann@example.com", "h", &Role::Admin, at(0))
            .unwrap();
        // An existing user's email cannot be invited (any case).
        let err = store
            .create_user_token(
                "inv-ann",
                &invite("ANN@example.com", Role::Member, None, at(1)),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Data);

        store
            .create_user_token(
                "inv-1",
                &invite("bob@example.com", Role::Member, None, at(1)),
            )
            .unwrap();
        store
            .create_user_token(
                "inv-c",
                &invite("carol@example.com", Role::Admin, None, at(2)),
            )
            .unwrap();
        // Inviting again replaces the pending invitation: the old link stops working.
        store
            .create_user_token(
                "inv-2",
                &invite(
                    "BOB@example.com",
                    Role::Admin,
                    Some(UserId(ann.id.get())),
                    at(3),
                ),
            )
            .unwrap();
        assert_eq!(
            store
                .user_token(&TokenKind::Invite, "inv-1", at(4))
                .unwrap(),
            None
        );
        let pending = store.pending_invitations(at(4)).unwrap();
        assert_eq!(
            emails(&pending),
            vec!["carol@example.com", "bob@example.com"]
        );
        assert_eq!(pending[1].role, Role::Admin);
        assert_eq!(pending[1].created_by, Some(ann.id));
        // The same token hash twice is a conflict.
        let err = store
            .create_user_token(
                "inv-2",
                &invite("dan@example.com", Role::Member, None, at(4)),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

        // Revoking: the link stops working, once.
        assert!(store.revoke_invitation("Carol@example.com", at(5)).unwrap());
        assert!(!store.revoke_invitation("carol@example.com", at(5)).unwrap());
        assert_eq!(
            store
                .redeem_user_token(&TokenKind::Invite, "inv-c", "h", at(6))
                .unwrap(),
            None
        );
        // An expired invitation is not pending and cannot be revoked.
        assert!(
            store
                .pending_invitations(at(3 + 7 * DAY))
                .unwrap()
                .is_empty()
        );
        assert!(
            !store
                .revoke_invitation("bob@example.com", at(3 + 7 * DAY))
                .unwrap()
        );

        // Creating the user directly drops the pending invitation.
        store
            .create_user("bob@example.com", "h", &Role::Member, at(7))
            .unwrap();
        assert!(store.pending_invitations(at(8)).unwrap().is_empty());
        assert_eq!(
            store
                .redeem_user_token(&TokenKind::Invite, "inv-2", "h", at(8))
                .unwrap(),
            None
        );

        // The inviter's deletion keeps the invitation, without its creator.
        store
            .create_user_token(
                "inv-d",
                &invite(
                    "dan@example.com",
                    Role::Member,
                    Some(UserId(ann.id.get())),
                    at(9),
                ),
            )
            .unwrap();
        let carl = store
            .create_user("carl@example.com", "h", &Role::Admin, at(9))
            .unwrap();
        store
            .create_user_token(
                "inv-e",
                &invite(
                    "eve@example.com",
                    Role::Member,
                    Some(UserId(carl.id.get())),
                    at(9),
                ),
            )
            .unwrap();
        assert!(store.delete_user(carl.id).unwrap());
        let pending = store.pending_invitations(at(10)).unwrap();
        assert_eq!(emails(&pending), vec!["dan@example.com", "eve@example.com"]);
        assert_eq!(pending[0].created_by, Some(ann.id));
        assert_eq!(pending[1].created_by, None);
    }
);

backend_test!(
    resets_set_the_password_and_end_every_session,
    |_db, store| {
        let ann = store
            .create_user("ann@example.com", "old", &Role::Admin, at(0))
            .unwrap();
        let bob = store
            .create_user("bob@example.com", "bob", &Role::Member, at(0))
            .unwrap();
        store.create_session("a1", ann.id, at(0), at(DAY)).unwrap();
        store.create_session("a2", ann.id, at(1), at(DAY)).unwrap();
        store.create_session("b1", bob.id, at(1), at(DAY)).unwrap();

        // A reset needs an existing user.
        let mut bad = reset(store, UserId(ann.id.get()), at(1));
        bad.user_id = None;
        assert!(matches!(
            store.create_user_token("r0", &bad).unwrap_err(),
            StoreError::NotFound(_)
        ));
        bad.user_id = Some(UserId(999_999));
        assert!(matches!(
            store.create_user_token("r0", &bad).unwrap_err(),
            StoreError::NotFound(_)
        ));

        store
            .create_user_token("r1", &reset(store, UserId(ann.id.get()), at(2)))
            .unwrap();
        // A newer reset link replaces the older one.
        store
            .create_user_token("r2", &reset(store, UserId(ann.id.get()), at(3)))
            .unwrap();
        assert_eq!(
            store.user_token(&TokenKind::Reset, "r1", at(4)).unwrap(),
            None
        );
        let t = store
            .user_token(&TokenKind::Reset, "r2", at(4))
            .unwrap()
            .unwrap();
        assert_eq!(t.user_id, Some(ann.id));
        assert_eq!(t.email, "ann@example.com");
        // Resets are not invitations.
        assert!(store.pending_invitations(at(4)).unwrap().is_empty());
        assert_eq!(
            store
                .redeem_user_token(&TokenKind::Invite, "r2", "x", at(5))
                .unwrap(),
            None
        );

        let user = store
            .redeem_user_token(&TokenKind::Reset, "r2", "new", at(5))
            .unwrap()
            .unwrap();
        assert_eq!(user.id, ann.id);
        assert_eq!(user.password_hash, "new");
        assert_eq!(user.password_changed_at, at(5));
        assert_eq!(store.session("a1", at(6)).unwrap(), None);
        assert_eq!(store.session("a2", at(6)).unwrap(), None);
        assert!(store.session("b1", at(6)).unwrap().is_some(), "others stay");
        assert_eq!(
            store
                .redeem_user_token(&TokenKind::Reset, "r2", "again", at(6))
                .unwrap(),
            None,
            "once only"
        );
        assert_eq!(
            store.get_user(ann.id).unwrap().unwrap().password_hash,
            "new"
        );

        // Deleting the user deletes their reset tokens.
        store
            .create_user_token("r3", &reset(store, UserId(bob.id.get()), at(7)))
            .unwrap();
        assert!(store.delete_user(bob.id).unwrap());
        assert_eq!(
            store.user_token(&TokenKind::Reset, "r3", at(8)).unwrap(),
            None
        );
        assert_eq!(store.prune_user_tokens(at(10 * DAY)).unwrap(), 1, "r2 only");
    }
);

backend_test!(the_last_admin_stays, |_db, store| {
    let ann = store
        .create_user("ann@example.com", "h", &Role::Admin, at(0))
        .unwrap();
    let bob = store
        .create_user("bob@example.com", "h", &Role::Member, at(0))
        .unwrap();
    for role in [Role::Member, Role::Unknown("auditor".into())] {
        let err = store.set_role(ann.id, &role).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    let err = store.delete_user(ann.id).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.get_user(ann.id).unwrap().unwrap().role, Role::Admin);
    // Members come and go; an admin may stay an admin.
    assert!(store.set_role(ann.id, &Role::Admin).unwrap());
    assert!(store.set_role(bob.id, &Role::Member).unwrap());
    // With a second admin, either may go.
    assert!(store.set_role(bob.id, &Role::Admin).unwrap());
    assert!(store.set_role(ann.id, &Role::Member).unwrap());
    assert!(matches!(
        store.delete_user(bob.id).unwrap_err(),
        StoreError::Conflict(_)
    ));
    assert!(store.set_role(ann.id, &Role::Admin).unwrap());
    assert!(store.delete_user(bob.id).unwrap());
    // Unknown users: false, as before.
    assert!(!store.set_role(UserId(999_999), &Role::Member).unwrap());
    assert!(!store.delete_user(UserId(999_999)).unwrap());
    assert!(store.delete_user(ann.id).is_err());
});

backend_test!(concurrent_demotions_leave_an_admin, |_db, store| {
    // Two admins demote each other at once, many times: one of each pair
    // must be refused.
    for round in 0..10 {
        let a = store
            .create_user(&format!("a{round}@example.com"), "h", &Role::Admin, at(0))
            .unwrap();
        let b = store
            .create_user(&format!("b{round}@example.com"), "h", &Role::Admin, at(0))
            .unwrap();
        let admins_before: Vec<UserId> = store
            .list_users()
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Admin)
            .map(|u| u.id)
            .collect();
        // Leave only these two as admins.
        for id in admins_before {
            if id != a.id && id != b.id {
                store.delete_user(id).unwrap();
            }
        }
        let results: Vec<Result<bool, StoreError>> = std::thread::scope(|s| {
            let ha = s.spawn(|| store.set_role(a.id, &Role::Member));
            let hb = s.spawn(|| store.delete_user(b.id));
            vec![ha.join().unwrap(), hb.join().unwrap()]
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {results:?}");
        let admins = store
            .list_users()
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Admin)
            .count();
        assert_eq!(admins, 1, "round {round}");
    }
});

backend_test!(concurrent_redemptions_use_a_token_once, |_db, store| {
    for round in 0..10 {
        let hash = format!("inv-{round}");
        store
            .create_user_token(
                &hash,
                &invite(&format!("u{round}@example.com"), Role::Member, None, at(0)),
            )
            .unwrap();
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|i| {
                    let hash = hash.clone();
                    s.spawn(move || {
                        store.redeem_user_token(&TokenKind::Invite, &hash, &format!("pw{i}"), at(1))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let users = results.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
        assert_eq!(users, 1, "round {round}: {results:?}");
        assert!(
            results.iter().all(|r| r.is_ok()),
            "round {round}: {results:?}"
        );
    }
});

backend_test!(sessions_are_listed_and_ended, |_db, store| {
    let ann = store
        .create_user("ann@example.com", "h", &Role::Admin, at(0))
        .unwrap();
    let bob = store
        .create_user("bob@example.com", "h", &Role::Member, at(0))
        .unwrap();
    store.create_session("s1", ann.id, at(1), at(100)).unwrap();
    store.create_session("s2", ann.id, at(2), at(100)).unwrap();
    store.create_session("s3", ann.id, at(3), at(10)).unwrap();
    store.create_session("b1", bob.id, at(1), at(100)).unwrap();

    let listed = store.list_sessions(ann.id, at(5)).unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|s| s.token_hash.as_str())
            .collect::<Vec<_>>(),
        vec!["s3", "s2", "s1"],
        "newest first"
    );
    assert_eq!(listed[1].created_at, at(2));
    assert_eq!(listed[1].expires_at, at(100));
    // Expired ones are not listed.
    assert_eq!(store.list_sessions(ann.id, at(10)).unwrap().len(), 2);
    assert!(
        store
            .list_sessions(UserId(999_999), at(5))
            .unwrap()
            .is_empty()
    );

    assert_eq!(store.end_sessions(ann.id, Some("s2")).unwrap(), 2);
    let left = store.list_sessions(ann.id, at(5)).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].token_hash, "s2");
    assert!(store.session("b1", at(5)).unwrap().is_some(), "others stay");
    assert_eq!(store.end_sessions(ann.id, None).unwrap(), 1);
    assert!(store.list_sessions(ann.id, at(5)).unwrap().is_empty());
    assert_eq!(store.list_sessions(bob.id, at(5)).unwrap().len(), 1);
});
