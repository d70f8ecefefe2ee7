use healthpoints_proto::identity::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn wrong_passwords_lock_the_account_even_for_the_right_one() {
    let app = spawn_app().await;
    app.register(10, "310118").await;
    for _ in 0..4 {
        assert_code(
            app.login(&phone(10), "Wrong-pass-1").await,
            Code::Unauthenticated,
            "invalid_credentials",
        );
    }
    let status = assert_code(
        app.login(&phone(10), "Wrong-pass-1").await,
        Code::FailedPrecondition,
        "account_locked",
    );
    assert!(
        healthpoints_errors::ApiError::from_status(&status)
            .retry_after
            .is_some()
    );
    assert_code(
        app.login(&phone(10), PASSWORD).await,
        Code::FailedPrecondition,
        "account_locked",
    );
}

#[tokio::test]
async fn unknown_logins_look_like_wrong_passwords_in_answer_and_in_time() {
    let app = spawn_app_with(|c| {
        c.login.max_failed_logins = 1_000;
        c.login.account_burst = 1_000;
        c.login.address_burst = 1_000;
    })
    .await;
    app.register(11, "310118").await;
    let wrong = assert_code(
        app.login(&phone(11), "Wrong-pass-1").await,
        Code::Unauthenticated,
        "invalid_credentials",
    );
    let unknown = assert_code(
        app.login(&phone(12), "Wrong-pass-1").await,
        Code::Unauthenticated,
        "invalid_credentials",
    );
    assert_eq!(wrong.message(), unknown.message());
    assert_code(
        app.login("nobody", PASSWORD).await,
        Code::Unauthenticated,
        "invalid_credentials",
    );
    // And in time: an unknown login verifies a password against a stand-in hash, so it takes
    // as long as a wrong password (without it, it would answer some fifty times faster). The
    // fastest of interleaved attempts are compared within a factor of two: the fastest is what
    // the work costs when nothing else competes for the two cores (other tests hash passwords in
    // parallel, which once pushed one median to 2.5 times the other), and a missing hash cannot
    // hide in a factor of two.
    let mut times = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let t = std::time::Instant::now();
        let _ = app.login(&phone(11), "Wrong-pass-1").await;
        times.0.push(t.elapsed());
        let t = std::time::Instant::now();
        let _ = app.login(&phone(12), "Wrong-pass-1").await;
        times.1.push(t.elapsed());
    }
    let fastest = |v: &[std::time::Duration]| v.iter().copied().min().unwrap_or_default();
    let (known, unknown) = (fastest(&times.0), fastest(&times.1));
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown {unknown:?} vs wrong password {known:?}"
    );
}

#[tokio::test]
async fn logins_are_rate_limited_per_client_address() {
    let app = spawn_app_with(|c| {
        c.login.address_burst = 3;
        c.login.address_per_minute = 1;
    })
    .await;
    let attempt = |n: u32| {
        let mut client = app.client.clone();
        async move {
            client
                .login(pb::LoginRequest {
                    login: phone(n),
                    password: PASSWORD.into(),
                    client_address: "203.0.113.7".into(),
                })
                .await
        }
    };
    for n in 0..3 {
        assert_code(
            attempt(n).await,
            Code::Unauthenticated,
            "invalid_credentials",
        );
    }
    assert_code(attempt(3).await, Code::ResourceExhausted, "rate_limited");
}

/// One account tried from many addresses (a botnet guessing one password): the account's own
/// budget stops it, with the right password too, and says when to try again.
#[tokio::test]
async fn logins_are_rate_limited_per_account_across_addresses() {
    let app = spawn_app_with(|c| {
        c.login.max_failed_logins = 1_000;
        c.login.account_burst = 3;
        c.login.account_per_minute = 1;
    })
    .await;
    app.register(20, "310118").await;
    let attempt = |address: u32, password: &'static str| {
        let mut client = app.client.clone();
        async move {
            client
                .login(pb::LoginRequest {
                    login: phone(20),
                    password: password.into(),
                    client_address: format!("198.51.100.{address}"),
                })
                .await
        }
    };
    for n in 0..3 {
        assert_code(
            attempt(n, "Wrong-pass-1").await,
            Code::Unauthenticated,
            "invalid_credentials",
        );
    }
    let status = assert_code(
        attempt(9, PASSWORD).await,
        Code::ResourceExhausted,
        "rate_limited",
    );
    let retry_after = healthpoints_errors::ApiError::from_status(&status).retry_after;
    assert!(
        retry_after.is_some_and(|r| r > std::time::Duration::ZERO),
        "{retry_after:?}"
    );
    // Another account is not held back by this one's budget.
    app.register(21, "310118").await;
    app.login(&phone(21), PASSWORD).await.unwrap();
}

/// Client credentials are guessed like passwords: each client id has its own budget.
#[tokio::test]
async fn client_credentials_are_rate_limited_per_client() {
    let app = spawn_app_with(|c| {
        c.login.account_burst = 3;
        c.login.account_per_minute = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let created = app
        .client
        .clone()
        .create_client(bearer(
            pb::CreateClientRequest {
                kind: pb::ClientKind::Partner as i32,
                name: "Sports bureau step feed".into(),
                partner_id: "sports-bureau".into(),
                department: "sports".into(),
                scopes: vec!["behaviours:submit".into()],
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let issue = |secret: &str, address: u32| {
        let mut client = app.client.clone();
        let request = pb::IssueClientTokenRequest {
            client_id: created.client_id.clone(),
            client_secret: secret.into(),
            client_address: format!("198.51.100.{address}"),
            scopes: Vec::new(),
        };
        async move { client.issue_client_token(request).await }
    };
    for n in 0..3 {
        assert_code(
            issue("wrong", n).await,
            Code::Unauthenticated,
            "invalid_credentials",
        );
    }
    assert_code(
        issue(&created.client_secret, 9).await,
        Code::ResourceExhausted,
        "rate_limited",
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    app.register(12, "310118").await;
    let first = app.login(&phone(12), PASSWORD).await.unwrap();
    let refresh = |token: &str| {
        let mut client = app.client.clone();
        let token = token.to_owned();
        async move {
            client
                .refresh_token(pb::RefreshTokenRequest {
                    refresh_token: token,
                })
                .await
                .map(|r| r.into_inner().tokens.unwrap())
        }
    };
    let second = refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    // A retry within the grace (the response was lost) answers the same refresh token.
    let again = refresh(&first.refresh_token).await.unwrap();
    assert_eq!(again.refresh_token, second.refresh_token);
    let third = refresh(&second.refresh_token).await.unwrap();
    // The spent token comes back once its successor was used: an attacker replayed it.
    // Everything in the family dies, and the answer says which sessions.
    let refused = refresh(&first.refresh_token).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        refused
            .message()
            .contains("other sessions are not affected"),
        "{}",
        refused.message()
    );
    assert_code(
        refresh(&third.refresh_token).await,
        Code::Unauthenticated,
        "unauthenticated",
    );
    // A fresh login is unaffected.
    let other = app.login(&phone(12), PASSWORD).await.unwrap();
    refresh(&other.refresh_token).await.unwrap();
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = spawn_app().await;
    app.register(13, "310118").await;
    let tokens = app.login(&phone(13), PASSWORD).await.unwrap();
    app.client
        .clone()
        .revoke_refresh_token(pb::RevokeRefreshTokenRequest {
            refresh_token: tokens.refresh_token.clone(),
        })
        .await
        .unwrap();
    let result = app
        .client
        .clone()
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: tokens.refresh_token,
        })
        .await;
    assert_code(result, Code::Unauthenticated, "unauthenticated");
}

#[tokio::test]
async fn suspended_residents_cannot_log_in_until_reinstated() {
    let app = spawn_app().await;
    let id = app.register(14, "310118").await;
    let admin = app.admin_token().await;
    let session = app.login(&phone(14), PASSWORD).await.unwrap();
    let suspended = app
        .client
        .clone()
        .suspend_resident(bearer(
            pb::SuspendResidentRequest {
                resident_id: id.clone(),
                reason: "points fraud under review".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .resident
        .unwrap();
    assert_eq!(suspended.status, pb::ResidentStatus::Suspended as i32);
    assert_eq!(suspended.status_reason, "points fraud under review");
    assert_code(
        app.login(&phone(14), PASSWORD).await,
        Code::PermissionDenied,
        "account_suspended",
    );
    let refreshed = app
        .client
        .clone()
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: session.refresh_token,
        })
        .await;
    assert_code(refreshed, Code::PermissionDenied, "account_suspended");
    // Suspending twice is refused and changes nothing.
    let again = app
        .client
        .clone()
        .suspend_resident(bearer(
            pb::SuspendResidentRequest {
                resident_id: id.clone(),
                reason: "again".into(),
            },
            &admin,
        ))
        .await;
    assert_code(again, Code::FailedPrecondition, "failed_precondition");
    app.client
        .clone()
        .reinstate_resident(bearer(
            pb::ReinstateResidentRequest { resident_id: id },
            &admin,
        ))
        .await
        .unwrap();
    app.login(&phone(14), PASSWORD).await.unwrap();
}

#[tokio::test]
async fn client_credentials_issue_scoped_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .client
        .clone()
        .create_client(bearer(
            pb::CreateClientRequest {
                kind: pb::ClientKind::Partner as i32,
                name: "Sports bureau step feed".into(),
                partner_id: "sports-bureau".into(),
                department: "sports".into(),
                scopes: vec!["behaviours:submit".into()],
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let issue = |secret: &str| {
        let mut client = app.client.clone();
        let request = pb::IssueClientTokenRequest {
            client_id: created.client_id.clone(),
            client_secret: secret.into(),
            client_address: String::new(),
            scopes: Vec::new(),
        };
        async move { client.issue_client_token(request).await }
    };
    let token = issue(&created.client_secret)
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    assert!(token.refresh_token.is_empty());
    assert_code(
        issue("wrong").await,
        Code::Unauthenticated,
        "invalid_credentials",
    );

    // Unknown scopes are refused by name.
    let bad = app
        .client
        .clone()
        .create_client(bearer(
            pb::CreateClientRequest {
                kind: pb::ClientKind::Partner as i32,
                name: "x".into(),
                partner_id: "p".into(),
                department: "d".into(),
                scopes: vec!["everything".into()],
                ..Default::default()
            },
            &admin,
        ))
        .await;
    let status = assert_code(bad, Code::InvalidArgument, "invalid_argument");
    assert_eq!(field_of(&status).as_deref(), Some("scopes"));
}

#[tokio::test]
async fn rotated_keys_stay_published_and_old_tokens_keep_working() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = app
        .client
        .clone()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(before.len(), 1);
    assert_eq!(
        (
            before[0].kty.as_str(),
            before[0].crv.as_str(),
            before[0].alg.as_str()
        ),
        ("OKP", "Ed25519", "EdDSA")
    );
    let kid = app
        .client
        .clone()
        .rotate_signing_key(bearer(pb::RotateSigningKeyRequest {}, &admin))
        .await
        .unwrap()
        .into_inner()
        .kid;
    let after = app
        .client
        .clone()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    let kids: Vec<_> = after.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(after.len(), 2);
    assert!(kids.contains(&kid.as_str()) && kids.contains(&before[0].kid.as_str()));
    // A token signed by the old key is still accepted; a new login is signed by the new key.
    app.client
        .clone()
        .list_districts(bearer(pb::ListDistrictsRequest {}, &admin))
        .await
        .unwrap();
    let fresh = app.admin_token().await;
    let header = jsonwebtoken_header_kid(&fresh);
    assert_eq!(header, kid);
}

#[tokio::test]
async fn forged_and_garbage_tokens_are_refused_before_any_handler() {
    let app = spawn_app().await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let result = app
            .client
            .clone()
            .rotate_signing_key(bearer(pb::RotateSigningKeyRequest {}, token))
            .await;
        assert_code(result, Code::Unauthenticated, "unauthenticated");
    }
}

fn jsonwebtoken_header_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    value["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_configured_service_client_gets_a_service_token_and_a_wrong_secret_none() {
    use healthpoints_config::Secret;
    use healthpoints_grpc::credentials::{ServiceCredentials, ServiceToken};
    use healthpoints_identity::config::ServiceClientConfig;

    let secret = "a-service-secret-of-enough-length";
    let app = spawn_app_with(|c| {
        c.service_clients.insert(
            "intake".into(),
            ServiceClientConfig {
                service: "intake".into(),
                secret: Secret::new(secret.into()),
                district: None,
            },
        );
    })
    .await;
    let token = |secret: &str| {
        ServiceToken::new(
            app.channel.clone(),
            ServiceCredentials {
                client_id: "intake".into(),
                client_secret: Secret::new(secret.into()),
            },
        )
    };
    let service = token(secret);
    // ResolveResident is for service principals only: a service token gets past the check
    // and learns that nobody is registered under a fresh id.
    let request = service
        .request(pb::ResolveResidentRequest {
            resident: Some(pb::resolve_resident_request::Resident::ResidentId(
                uuid::Uuid::now_v7().to_string(),
            )),
        })
        .await
        .unwrap();
    assert_code(
        app.client.clone().resolve_resident(request).await,
        Code::NotFound,
        "not_found",
    );
    // The same token is served from the cache.
    assert_eq!(
        service.token().await.unwrap(),
        service.token().await.unwrap()
    );

    // Many at once, in order: a registered resident by id and by ID number, a stranger, a
    // reference that is not well-formed; a resident's token may not ask.
    let known = app.register(7, "310118").await;
    let by = |r: pb::resolve_resident_request::Resident| pb::ResolveResidentRequest {
        resident: Some(r),
    };
    use pb::resolve_resident_request::Resident as R;
    let request = service
        .request(pb::ResolveResidentsRequest {
            residents: vec![
                by(R::ResidentId(known.clone())),
                by(R::ResidentId(uuid::Uuid::now_v7().to_string())),
                by(R::IdNumber(id_number(7))),
                by(R::IdNumberHash("not hex".into())),
                pb::ResolveResidentRequest { resident: None },
            ],
        })
        .await
        .unwrap();
    let found = app
        .client
        .clone()
        .resolve_residents(request)
        .await
        .unwrap()
        .into_inner()
        .residents;
    let ids: Vec<&str> = found.iter().map(|r| r.resident_id.as_str()).collect();
    assert_eq!(ids, [known.as_str(), "", known.as_str(), "", ""]);
    assert!(found[0].district_enrolled && found[0].residence_district == "310118");
    let resident = app.login(&phone(7), PASSWORD).await.unwrap().access_token;
    assert_code(
        app.client
            .clone()
            .resolve_residents(bearer(pb::ResolveResidentsRequest::default(), &resident))
            .await,
        Code::PermissionDenied,
        "forbidden",
    );

    let err = token("not-the-secret-we-deployed")
        .token()
        .await
        .unwrap_err();
    assert_eq!(err.code.as_str(), "invalid_credentials");
}
