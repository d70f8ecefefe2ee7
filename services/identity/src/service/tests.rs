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
