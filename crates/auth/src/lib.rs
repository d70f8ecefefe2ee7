//! Authentication and authorisation for every service of the healthpoints mesh.
//!
//! identity signs EdDSA (Ed25519) JWTs; every service verifies them itself — the gateway is not
//! the only wall. A [`Verifier`] checks algorithm, signature (keys from identity's JWKS, cached,
//! refreshed when an unknown `kid` appears), issuer, audience and validity window, then turns the
//! claims into a typed [`Principal`]. [`AuthLayer`] does this for every gRPC request that carries
//! a bearer token and puts the principal in the request's extensions; handlers then ask
//! [`principal`] for it and check ownership with the methods on [`Principal`].

mod claims;
mod layer;
mod verifier;

pub use claims::{Actor, Claims, Principal, Role};
pub use layer::{AuthLayer, AuthService, optional_principal, principal};
pub use verifier::{DELEGATED_CALLS, JwksSource, StaticJwks, Verifier, VerifierConfig};
