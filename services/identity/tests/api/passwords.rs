//! Passwords over real gRPC: a staff member changes theirs (their other sessions end); a client
//! has none to change; where no text-message sender is configured, a reset by code is refused
//! as a precondition, naming the way that remains (a health station), and says nothing about
//! the number.

use healthpoints_proto::identity::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn staff_change_their_password_and_reset_by_code_needs_a_sender() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN.0, ADMIN.1).await.unwrap();
    let other_session = app.login(ADMIN.0, ADMIN.1).await.unwrap();
    let changed = app
        .client
        .clone()
        .change_password(bearer(
            healthpoints_proto::identity::v1::ChangePasswordRequest {
                current_password: ADMIN.1.into(),
                new_password: "Root-pass-456".into(),
                client_address: String::new(),
            },
            &admin.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    assert!(!changed.refresh_token.is_empty());
    let refreshed = app
        .client
        .clone()
        .refresh_token(healthpoints_proto::identity::v1::RefreshTokenRequest {
            refresh_token: other_session.refresh_token,
        })
        .await;
    assert_code(refreshed, Code::Unauthenticated, "unauthenticated");
    assert!(app.login(ADMIN.0, ADMIN.1).await.is_err());
    app.login(ADMIN.0, "Root-pass-456").await.unwrap();

    // Nothing is sent from here: the way that remains is a health station.
    let refused = app
        .client
        .clone()
        .request_password_reset(
            healthpoints_proto::identity::v1::RequestPasswordResetRequest {
                phone: phone(1),
                client_address: String::new(),
            },
        )
        .await;
    let status = assert_code(refused, Code::FailedPrecondition, "failed_precondition");
    assert!(status.message().contains("health station"), "{status:?}");
}

/// A resident closes their account with their password; after the retention period (none
/// here) the sweep erases their name, numbers, password and birth date but the year, keeps
/// the id — and the person may register again with the same ID card and phone.
#[tokio::test]
async fn a_closed_account_is_erased_after_the_retention_period() {
    let app = spawn_app_with(|c| {
        c.closing.retention_days = 0;
        c.closing.sweep_interval_ms = 100;
    })
    .await;
    let resident = app.register(41, "310118").await;
    let tokens = app.login(&phone(41), PASSWORD).await.unwrap();
    let close = |password: &str| {
        bearer(
            pb::CloseAccountRequest {
                password: password.into(),
                client_address: String::new(),
            },
            &tokens.access_token,
        )
    };
    let wrong = app.client.clone().close_account(close("Not-mine-1")).await;
    let status = assert_code(wrong, Code::FailedPrecondition, "failed_precondition");
    assert_eq!(field_of(&status).as_deref(), Some("password"));
    let closed = app
        .client
        .clone()
        .close_account(close(PASSWORD))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.closed_at, closed.erase_after, "no retention here");

    let admin = app.admin_token().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let erased = loop {
        let r = app
            .client
            .clone()
            .get_resident(bearer(
                pb::GetResidentRequest {
                    resident_id: resident.clone(),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .resident
            .unwrap();
        if r.name.is_empty() || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(erased.name, "", "{erased:?}");
    assert_eq!(erased.id_number_masked, "");
    assert_eq!(erased.phone_masked, "");
    assert_eq!(erased.birth_date, "1985-01-01", "the year stays");
    assert_eq!(erased.status, pb::ResidentStatus::Closed as i32);
    assert!(app.login(&phone(41), PASSWORD).await.is_err());
    let again = app.register(41, "310118").await;
    assert_ne!(again, resident, "a new account, a new id");
}
