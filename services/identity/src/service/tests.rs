use std::sync::Mutex;

use healthpoints_testkit::TestDatabase;

use super::*;
use crate::store::Migrator;

const PASSWORD: &str = "Resident-pass-1";

struct Fixture {
    identity: Arc<Identity>,
    now: Arc<Mutex<DateTime<Utc>>>,
    _db: TestDatabase,
}

impl Fixture {
    fn advance(&self, by: chrono::Duration) {
        *self.now.lock().unwrap() += by;
    }
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create("identity_domain").await;
    let conn = healthpoints_db::connect::<Migrator>(&db.config)
        .await
        .unwrap();
    let now = Arc::new(Mutex::new(Utc::now()));
    let clock_now = now.clone();
    let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
    let tokens = Tokens::new(tokens::TokenPolicy {
        issuer: "i".into(),
        audience: "a".into(),
        access_ttl: Duration::from_secs(900),
        refresh_ttl: Duration::from_secs(3600),
        refresh_reuse_grace: Duration::from_secs(30),
        key_reload: Duration::ZERO,
    });
    let crypto =
        Arc::new(Crypto::from_master_key(&Crypto::generate_master_key().unwrap()).unwrap());
    let identity = Identity::new(Store::new(conn), crypto, tokens, Policy::default(), clock)
        .await
        .unwrap();
    identity
        .register(Registration {
            name: "测试".into(),
            id_number: "11010519491231002X".into(),
            phone: "13900000000".into(),
            password: PASSWORD.into(),
            residence_district: "310118".into(),
            residence_type: "registered".into(),
        })
        .await
        .unwrap();
    Fixture {
        identity: Arc::new(identity),
        now,
        _db: db,
    }
}

#[tokio::test]
async fn a_lock_lifts_after_the_lock_duration() {
    let f = fixture().await;
    for _ in 0..4 {
        assert!(matches!(
            f.identity.login("13900000000", "Wrong-pass-1", "").await,
            Err(IdentityError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        f.identity.login("13900000000", "Wrong-pass-1", "").await,
        Err(IdentityError::AccountLocked { .. })
    ));
    f.advance(chrono::Duration::minutes(14));
    assert!(matches!(
        f.identity.login("13900000000", PASSWORD, "").await,
        Err(IdentityError::AccountLocked { .. })
    ));
    f.advance(chrono::Duration::minutes(2));
    f.identity.login("13900000000", PASSWORD, "").await.unwrap();
}

#[tokio::test]
async fn a_success_resets_the_count_of_wrong_passwords() {
    let f = fixture().await;
    for _ in 0..4 {
        let _ = f.identity.login("13900000000", "Wrong-pass-1", "").await;
    }
    f.identity.login("13900000000", PASSWORD, "").await.unwrap();
    for _ in 0..4 {
        assert!(matches!(
            f.identity.login("13900000000", "Wrong-pass-1", "").await,
            Err(IdentityError::InvalidCredentials)
        ));
    }
}

#[tokio::test]
async fn refresh_tokens_expire() {
    let f = fixture().await;
    let pair = f.identity.login("13900000000", PASSWORD, "").await.unwrap();
    f.advance(chrono::Duration::hours(2));
    assert!(matches!(
        f.identity.refresh(&pair.refresh_token.unwrap()).await,
        Err(IdentityError::RefreshTokenInvalid)
    ));
}

#[tokio::test]
async fn racing_refreshes_of_one_token_rotate_it_once_and_both_get_the_new_pair() {
    let f = fixture().await;
    let token = f
        .identity
        .login("13900000000", PASSWORD, "")
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    // Two app instances (or a retry after a lost response) at the same moment.
    let (a, b) = tokio::join!(f.identity.refresh(&token), f.identity.refresh(&token));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.refresh_token, b.refresh_token,
        "rotated once, answered twice"
    );
    // The new token works; the person is still signed in.
    let next = f
        .identity
        .refresh(a.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    // The old token's successor is spent now: presenting the old one again is reuse, even
    // within the grace, and revokes the session — including the newest token.
    assert!(matches!(
        f.identity.refresh(&token).await,
        Err(IdentityError::RefreshTokenReused)
    ));
    assert!(matches!(
        f.identity
            .refresh(next.refresh_token.as_ref().unwrap())
            .await,
        Err(IdentityError::RefreshTokenInvalid)
    ));
}

#[tokio::test]
async fn reuse_after_the_grace_signs_out_that_session_and_no_other() {
    let f = fixture().await;
    let phone = f.identity.login("13900000000", PASSWORD, "").await.unwrap();
    let tablet = f.identity.login("13900000000", PASSWORD, "").await.unwrap();
    let old = phone.refresh_token.unwrap();
    let rotated = f.identity.refresh(&old).await.unwrap();
    // Within the grace the old token answers the same refresh token (a lost response retried).
    f.advance(chrono::Duration::seconds(29));
    let again = f.identity.refresh(&old).await.unwrap();
    assert_eq!(again.refresh_token, rotated.refresh_token);
    assert_ne!(
        again.access_token, rotated.access_token,
        "a fresh access token"
    );
    // After it, the old token is a stolen copy: its family is revoked.
    f.advance(chrono::Duration::seconds(2));
    assert!(matches!(
        f.identity.refresh(&old).await,
        Err(IdentityError::RefreshTokenReused)
    ));
    assert!(matches!(
        f.identity
            .refresh(rotated.refresh_token.as_ref().unwrap())
            .await,
        Err(IdentityError::RefreshTokenInvalid)
    ));
    // The tablet's session is another family and goes on.
    f.identity
        .refresh(tablet.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_session_whose_spent_token_was_revoked_after_it_rotated_is_refused() {
    // What a rotation racing a password change leaves on PostgreSQL: the change's revoke did
    // not see the successor (stored after its snapshot) but did revoke the spent predecessor.
    use sea_orm::{ConnectionTrait, Statement};
    let f = fixture().await;
    let first = f.identity.login("13900000000", PASSWORD, "").await.unwrap();
    let first = first.refresh_token.unwrap();
    let successor = f.identity.refresh(&first).await.unwrap();
    let conn = f.identity.store.connection();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "UPDATE refresh_tokens SET revoked_at = used_at WHERE token_hash = $1",
        [f.identity.crypto.token_hash(&first).into()],
    ))
    .await
    .unwrap();
    assert!(matches!(
        f.identity
            .refresh(successor.refresh_token.as_ref().unwrap())
            .await,
        Err(IdentityError::RefreshTokenInvalid)
    ));
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_once_its_tokens_have_expired() {
    let f = fixture().await;
    let admin = Principal::CityAdmin {
        staff_id: Uuid::now_v7(),
    };
    f.identity.rotate_key(&admin).await.unwrap();
    assert_eq!(f.identity.jwks().await.unwrap().len(), 2);
    f.advance(chrono::Duration::minutes(17));
    assert_eq!(f.identity.jwks().await.unwrap().len(), 1);
}

fn city_admin() -> Principal {
    Principal::CityAdmin {
        staff_id: Uuid::now_v7(),
    }
}

async fn partner_client(f: &Fixture, partner_id: &str) -> (String, String) {
    f.identity
        .create_client(
            &city_admin(),
            ClientSpec {
                kind: "partner".into(),
                name: "Sports bureau".into(),
                partner_id: partner_id.into(),
                department: "sports".into(),
                scopes: vec!["behaviours:submit".into()],
                ..ClientSpec::default()
            },
        )
        .await
        .unwrap()
}

async fn token_with(
    f: &Fixture,
    client_id: &str,
    secret: &str,
) -> Result<(TokenPair, Vec<String>)> {
    f.identity.client_token(client_id, secret, "", &[]).await
}

#[tokio::test]
async fn a_rotated_secret_stays_valid_for_its_grace_period_then_is_refused() {
    let f = fixture().await;
    let (client_id, old) = partner_client(&f, "sports").await;
    let rotated = f
        .identity
        .rotate_partner_secret(&city_admin(), "sports", "", None)
        .await
        .unwrap();
    assert_eq!(rotated.client_id, client_id, "the partner's one client");
    assert_ne!(rotated.client_secret, old);
    let until = rotated.previous_valid_until.expect("a grace period");
    assert_eq!(until, *f.now.lock().unwrap() + chrono::Duration::hours(24));
    // Both secrets work while the partner's servers change over.
    token_with(&f, &client_id, &old).await.unwrap();
    token_with(&f, &client_id, &rotated.client_secret)
        .await
        .unwrap();
    f.advance(chrono::Duration::hours(24) - chrono::Duration::seconds(1));
    token_with(&f, &client_id, &old).await.unwrap();
    // Then the old one is refused, the new one goes on.
    f.advance(chrono::Duration::seconds(1));
    assert!(matches!(
        token_with(&f, &client_id, &old).await,
        Err(IdentityError::InvalidClientCredentials)
    ));
    token_with(&f, &client_id, &rotated.client_secret)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_zero_grace_revokes_at_once_and_a_second_rotation_revokes_the_first_replaced_secret() {
    let f = fixture().await;
    let (client_id, first) = partner_client(&f, "sports").await;
    let leaked = f
        .identity
        .rotate_partner_secret(&city_admin(), "sports", &client_id, Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(leaked.previous_valid_until.is_none());
    assert!(matches!(
        token_with(&f, &client_id, &first).await,
        Err(IdentityError::InvalidClientCredentials)
    ));
    let second = f
        .identity
        .rotate_partner_secret(&city_admin(), "sports", "", Some(Duration::from_secs(600)))
        .await
        .unwrap();
    let third = f
        .identity
        .rotate_partner_secret(&city_admin(), "sports", "", Some(Duration::from_secs(600)))
        .await
        .unwrap();
    // Only one replaced secret is kept: the one the last rotation replaced.
    assert!(matches!(
        token_with(&f, &client_id, &leaked.client_secret).await,
        Err(IdentityError::InvalidClientCredentials)
    ));
    token_with(&f, &client_id, &second.client_secret)
        .await
        .unwrap();
    token_with(&f, &client_id, &third.client_secret)
        .await
        .unwrap();
}

#[tokio::test]
async fn rotation_is_for_a_city_admin_names_the_client_among_several_and_refuses_what_is_wrong() {
    let f = fixture().await;
    let (first, _) = partner_client(&f, "sports").await;
    let (second, second_secret) = partner_client(&f, "sports").await;
    let (other, _) = partner_client(&f, "health").await;
    let district_admin = Principal::DistrictAdmin {
        staff_id: Uuid::now_v7(),
        district: DistrictCode::parse("310118").unwrap(),
    };
    assert!(matches!(
        f.identity
            .rotate_partner_secret(&district_admin, "sports", &first, None)
            .await,
        Err(IdentityError::Forbidden(_))
    ));
    let field_of = |e: IdentityError| match e {
        IdentityError::Invalid(v) => v[0].field.clone(),
        other => panic!("not a field error: {other:?}"),
    };
    let several = f
        .identity
        .rotate_partner_secret(&city_admin(), "sports", "", None)
        .await
        .unwrap_err();
    assert_eq!(field_of(several), "client_id");
    let too_long = f
        .identity
        .rotate_partner_secret(
            &city_admin(),
            "sports",
            &first,
            Some(MAX_SECRET_GRACE + Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(too_long), "grace_period_seconds");
    // Another partner's client, and a partner without clients, are not found.
    assert!(matches!(
        f.identity
            .rotate_partner_secret(&city_admin(), "sports", &other, None)
            .await,
        Err(IdentityError::NotFound(_))
    ));
    assert!(matches!(
        f.identity
            .rotate_partner_secret(&city_admin(), "nobody", "", None)
            .await,
        Err(IdentityError::NotFound(_))
    ));
    // None of the refusals changed a secret, nor does a rotation that read a secret since
    // replaced (another rotation at the same moment).
    token_with(&f, &second, &second_secret).await.unwrap();
    assert!(
        !f.identity
            .store()
            .rotate_client_secret(&second, "stale", "new".into(), None)
            .await
            .unwrap()
    );
    token_with(&f, &second, &second_secret).await.unwrap();
    let rotated = f
        .identity
        .rotate_partner_secret(&city_admin(), "sports", &second, None)
        .await
        .unwrap();
    assert_eq!(rotated.client_id, second);
}
