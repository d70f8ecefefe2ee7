//! Passwords over real gRPC: a staff member changes theirs (their other sessions end); a client
//! has none to change; where no text-message sender is configured, a reset by code is refused
//! as a precondition, naming the way that remains (a health station), and says nothing about
//! the number.

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
