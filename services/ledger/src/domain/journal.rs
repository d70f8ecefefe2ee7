//! The tamper-evident journal: each committed transfer's hash covers the previous entry's hash
//! and the transfer's canonical bytes, so rewriting any row breaks every later link.

use aws_lc_rs::digest::{SHA256, digest};

use super::model::Transfer;

/// The previous hash of a book's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The reason the sweeper writes on the void that expires a pending transfer (shown in history).
pub const EXPIRY_REASON: &str = "pending transfer timed out";

/// The transfer's bytes as hashed: every field, free text length-prefixed so no two transfers
/// share an encoding.
pub fn canonical(t: &Transfer) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let text = |s: &str| format!("{}:{s}", s.len());
    let m = &t.metadata;
    format!(
        "v1|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        t.id,
        t.book,
        t.seq,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        t.kind.as_str(),
        t.pending,
        opt(t.timeout_at_us.map(|v| v.to_string())),
        t.action.as_str(),
        opt(t.pending_id.map(|v| v.to_string())),
        t.expiry,
        t.created_at_us,
        text(&m.event_id),
        text(&m.order_id),
        text(&m.rule_code),
        m.rule_version,
        text(&m.reason),
    )
}

/// The hash of a journal entry, lowercase hex.
pub fn entry_hash(prev_hash: &str, t: &Transfer) -> String {
    let mut input = Vec::with_capacity(256);
    input.extend_from_slice(prev_hash.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(canonical(t).as_bytes());
    let d = digest(&SHA256, &input);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
