//! The gRPC contracts of the healthpoints mesh, generated from `proto/healthpoints/**`.
//!
//! One module per versioned package (`healthpoints.ledger.v1` → [`ledger::v1`]). Clients and
//! servers are behind the `client` and `server` features; [`FILE_DESCRIPTOR_SET`] feeds gRPC
//! reflection. Conversions between these wire types and domain types live in the crates that own
//! the domain, so this crate stays a pure contract.

/// Encoded `FileDescriptorSet` of every contract, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/healthpoints_descriptor.bin"));

/// Generated code is documented by the `.proto` comments it is built from.
macro_rules! package {
    ($name:ident, $pkg:literal) => {
        pub mod $name {
            pub mod v1 {
                #![allow(missing_docs, clippy::all, clippy::pedantic, unused_qualifications)]
                #![allow(missing_debug_implementations)]
                include!(concat!(env!("OUT_DIR"), "/", $pkg, ".rs"));
            }
        }
    };
}

package!(common, "healthpoints.common.v1");
package!(identity, "healthpoints.identity.v1");
package!(intake, "healthpoints.intake.v1");
package!(ledger, "healthpoints.ledger.v1");
package!(mall, "healthpoints.mall.v1");
package!(exchange, "healthpoints.exchange.v1");

/// Protobuf timestamps ⇄ UTC times, the same way in every service.
pub mod time {
    use chrono::{DateTime, Utc};
    use prost_types::Timestamp;

    /// The timestamp of an instant.
    pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
        Timestamp {
            seconds: t.timestamp(),
            nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or_default(),
        }
    }

    /// The instant of a timestamp; `None` when it is out of range or its nanos are negative.
    pub fn datetime(t: &Timestamp) -> Option<DateTime<Utc>> {
        u32::try_from(t.nanos)
            .ok()
            .and_then(|n| DateTime::from_timestamp(t.seconds, n))
    }
}

impl common::v1::Yuan {
    /// Builds the yuan value of `points` (one point = one fen), e.g. 1234 → "¥12.34".
    pub fn from_points(points: u64) -> Self {
        Self {
            fen: points,
            display: healthpoints_types::Points::new(points).yuan(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::common::v1::Yuan;

    #[test]
    fn yuan_display_keeps_two_decimals() {
        assert_eq!(Yuan::from_points(0).display, "¥0.00");
        assert_eq!(Yuan::from_points(5).display, "¥0.05");
        assert_eq!(Yuan::from_points(1234).display, "¥12.34");
    }

    #[test]
    fn descriptor_set_names_every_package() {
        let text = String::from_utf8_lossy(super::FILE_DESCRIPTOR_SET);
        for pkg in ["identity", "intake", "ledger", "mall", "exchange", "common"] {
            assert!(text.contains(&format!("healthpoints.{pkg}.v1")), "{pkg}");
        }
    }
}
