//! The mall contract's messages ⇄ its domain types, and its errors ⇄ the mesh's error codes:
//! every conversion of the adapter, so that `grpc.rs` holds only the handlers.

use chrono::{DateTime, Utc};
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::time::{read_optional, timestamp as ts};
use healthpoints_proto::{
    common::v1::{PageInfo, PageRequest, Yuan},
    mall::v1::{self as pb},
};
use healthpoints_types::{IdempotencyKey, MerchantId, ParseError, ProductId, ResidentId};
use tonic::Status;

use crate::{
    domain::{
        error::MallError,
        model::{
            Merchant, MerchantStatus, Order, OrderStatus, Product, ProductCategory, ProductStatus,
            Statement, scan_payload,
        },
    },
    service::{NewOrder, Page, ProductSpec},
};

/// Converts a domain error once, with a log level per kind.
pub fn to_api_error(err: MallError) -> ApiError {
    match err {
        MallError::Invalid { field, reason } => ApiError::invalid(field, reason),
        e @ MallError::Forbidden(_) => {
            tracing::info!(reason = %e, "mall request forbidden");
            ApiError::forbidden(e.to_string())
        }
        e @ MallError::NotFound(_) => ApiError::not_found(e.to_string()),
        e @ MallError::Conflict(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
        e @ MallError::Refused(_) => ApiError::new(ErrorCode::FailedPrecondition, e.to_string()),
        MallError::OrderState { reason, order } => {
            let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let mut e = ApiError::new(ErrorCode::FailedPrecondition, reason)
                .with_context("order_id", order.order_id.to_string())
                .with_context("order_status", order.status.public());
            if let Some(at) = order.written_off_at {
                e = e.with_context("written_off_at", rfc3339(at));
            }
            if let Some(at) = order.resolved_at {
                e = e.with_context("resolved_at", rfc3339(at));
            }
            e.with_context("expires_at", rfc3339(order.expires_at))
        }
        e @ MallError::Suspended => ApiError::new(ErrorCode::AccountSuspended, e.to_string()),
        e @ MallError::Unavailable(_) => {
            tracing::warn!(reason = %e, "mall dependency unavailable");
            ApiError::new(ErrorCode::Unavailable, e.to_string())
        }
        MallError::Internal(fault) => ApiError::from_fault("mall request failed", &fault),
    }
}

pub(crate) fn status(err: MallError) -> Status {
    to_api_error(err).into()
}

/// A request field parsed at the edge (an id, a key); the refusal names the field.
pub(crate) fn field<T>(name: &str, parsed: Result<T, ParseError>) -> Result<T, Status> {
    parsed.map_err(|e| status(MallError::invalid(name, e.0)))
}

/// An order as a resident asks for it.
pub(crate) fn new_order(r: &pb::CreateOrderRequest) -> Result<NewOrder, Status> {
    Ok(NewOrder {
        resident: field("resident_id", ResidentId::parse_optional(&r.resident_id))?,
        key: field("idempotency_key", IdempotencyKey::parse(&r.idempotency_key))?,
        product: field("product_id", ProductId::parse(&r.product_id))?,
        quantity: r.quantity,
    })
}

pub(crate) fn merchant_status_to_pb(s: MerchantStatus) -> pb::MerchantStatus {
    match s {
        MerchantStatus::Pending => pb::MerchantStatus::Pending,
        MerchantStatus::Active => pb::MerchantStatus::Active,
        MerchantStatus::Suspended => pb::MerchantStatus::Suspended,
    }
}

pub(crate) fn merchant_status_from_pb(s: i32) -> Option<MerchantStatus> {
    match pb::MerchantStatus::try_from(s).unwrap_or_default() {
        pb::MerchantStatus::Pending => Some(MerchantStatus::Pending),
        pb::MerchantStatus::Active => Some(MerchantStatus::Active),
        pb::MerchantStatus::Suspended => Some(MerchantStatus::Suspended),
        pb::MerchantStatus::Unspecified => None,
    }
}

pub(crate) fn merchant_to_pb(m: &Merchant) -> pb::Merchant {
    pb::Merchant {
        merchant_id: m.merchant_id.to_string(),
        name: m.name.clone(),
        licence_no: m.licence_no.clone(),
        contact: m.contact.clone(),
        status: merchant_status_to_pb(m.status) as i32,
        admitted_at: Some(ts(m.admitted_at)),
    }
}

pub(crate) fn product_to_pb(p: &Product) -> pb::Product {
    pb::Product {
        product_id: p.product_id.to_string(),
        merchant_id: p.merchant_id.to_string(),
        title: p.title.clone(),
        description: p.description.clone(),
        category: match p.category {
            ProductCategory::HealthService => pb::ProductCategory::HealthService,
            ProductCategory::HealthProduct => pb::ProductCategory::HealthProduct,
        } as i32,
        price_points: p.price_points,
        price_yuan: Some(Yuan::from_points(p.price_points)),
        stock: p.stock,
        per_resident_limit: p.per_resident_limit,
        limit_period: p.limit_period.as_str().to_owned(),
        available_from: p.available_from.map(ts),
        available_until: p.available_until.map(ts),
        min_age: p.min_age,
        status: match p.status {
            ProductStatus::Active => pb::ProductStatus::Active,
            ProductStatus::Inactive => pb::ProductStatus::Inactive,
        } as i32,
    }
}

/// Whose orders a listing asks for: a resident's, a merchant's, or (neither) the caller's own.
pub(crate) fn order_owner(
    owner: Option<&pb::list_orders_request::Owner>,
) -> Result<(Option<ResidentId>, Option<MerchantId>), Status> {
    use pb::list_orders_request::Owner;
    Ok(match owner {
        Some(Owner::ResidentId(id)) => {
            (field("resident_id", ResidentId::parse_optional(id))?, None)
        }
        Some(Owner::MerchantId(id)) => {
            (None, field("merchant_id", MerchantId::parse_optional(id))?)
        }
        None => (None, None),
    })
}

/// A product as its merchant describes it; the id is parsed only where one is named (an update).
pub(crate) fn spec_from_pb(p: pb::Product) -> Result<(String, ProductSpec), Status> {
    Ok((
        p.product_id,
        ProductSpec {
            title: p.title,
            description: p.description,
            category: match pb::ProductCategory::try_from(p.category).unwrap_or_default() {
                pb::ProductCategory::HealthService => Some(ProductCategory::HealthService),
                pb::ProductCategory::HealthProduct => Some(ProductCategory::HealthProduct),
                pb::ProductCategory::Unspecified => None,
            },
            price_points: p.price_points,
            stock: p.stock,
            per_resident_limit: p.per_resident_limit,
            limit_period: p.limit_period,
            available_from: read_optional("product.available_from", p.available_from.as_ref())?,
            available_until: read_optional("product.available_until", p.available_until.as_ref())?,
            min_age: p.min_age,
            status: match pb::ProductStatus::try_from(p.status).unwrap_or_default() {
                pb::ProductStatus::Active => Some(ProductStatus::Active),
                pb::ProductStatus::Inactive => Some(ProductStatus::Inactive),
                pb::ProductStatus::Unspecified => None,
            },
        },
    ))
}

pub(crate) fn order_status_to_pb(s: OrderStatus) -> pb::OrderStatus {
    match s {
        // A reservation not yet confirmed by the ledger is shown as reserved only once it is.
        OrderStatus::Reserving | OrderStatus::Reserved => pb::OrderStatus::Reserved,
        // Steps in progress show the state they are heading for only once they reach it.
        OrderStatus::WritingOff | OrderStatus::Cancelling | OrderStatus::Expiring => {
            pb::OrderStatus::Reserved
        }
        OrderStatus::WrittenOff | OrderStatus::Refunding => pb::OrderStatus::WrittenOff,
        OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
        OrderStatus::Expired => pb::OrderStatus::Expired,
        OrderStatus::Refunded => pb::OrderStatus::Refunded,
    }
}

/// Domain order → wire; `mall` names the mall for the voucher's scan payload.
pub fn order_to_pb(o: &Order, mall: &str) -> pb::Order {
    pb::Order {
        order_id: o.order_id.to_string(),
        resident_id: o.resident_id.to_string(),
        merchant_id: o.merchant_id.to_string(),
        product_id: o.product_id.to_string(),
        product_title: o.product_title.clone(),
        quantity: o.quantity,
        points: o.points,
        yuan: Some(Yuan::from_points(o.points)),
        status: order_status_to_pb(o.status) as i32,
        voucher: Some(pb::Voucher {
            code: o.voucher_code.clone(),
            scan_payload: scan_payload(mall, &o.voucher_code),
            expires_at: Some(ts(o.expires_at)),
        }),
        transfer_id: o.transfer_id().to_string(),
        created_at: Some(ts(o.created_at)),
        resolved_at: o.resolved_at.map(ts),
        mall: mall.to_owned(),
        refund_reason: o.refund_reason.clone().unwrap_or_default(),
    }
}

pub(crate) fn statement_to_pb(s: &Statement) -> pb::SettlementStatement {
    pb::SettlementStatement {
        merchant_id: s.merchant_id.to_string(),
        period: s.period.clone(),
        status: if s.closed {
            pb::SettlementStatus::Closed
        } else {
            pb::SettlementStatus::Open
        } as i32,
        written_off: s.written_off,
        refunded: s.refunded,
        points: s.net_points(),
        yuan: Some(Yuan::from_points(s.net_points())),
        settle_transfer_id: s.transfer_id.map(|t| t.to_string()).unwrap_or_default(),
        closed_at: s.closed_at.map(ts),
        redeemed_points: s.redeemed_points,
        refunded_points: s.refunded_points,
        clawed_back: s.clawed_back,
        clawed_back_points: s.clawed_back_points,
        lines: s
            .lines
            .iter()
            .map(|l| pb::SettlementLine {
                order_id: l.order_id.to_string(),
                product_title: l.product_title.clone(),
                quantity: l.quantity,
                points: l.points,
                written_off_at: l.written_off_at.map(ts),
                refunded_at: l.refunded_at.map(ts),
                transfer_id: l.transfer_id.map(|t| t.to_string()).unwrap_or_default(),
            })
            .collect(),
    }
}

pub(crate) fn page_info<T>(p: &Page<T>) -> Option<PageInfo> {
    Some(PageInfo {
        next_cursor: p.next.clone().unwrap_or_default(),
    })
}

pub(crate) fn page_request(p: Option<PageRequest>) -> (u32, String) {
    let p = p.unwrap_or_default();
    (p.page_size, p.cursor)
}

#[cfg(test)]
mod tests {
    use healthpoints_errors::ApiError;
    use uuid::Uuid;

    use super::*;

    /// The field a refusal names.
    fn named<T: std::fmt::Debug>(r: Result<T, Status>) -> String {
        let status = r.expect_err("the request is refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        ApiError::from_status(&status)
            .violations
            .first()
            .map(|v| v.field.clone())
            .unwrap_or_else(|| panic!("no field named in {status:?}"))
    }

    #[test]
    fn an_order_request_is_parsed_once_and_a_bad_field_is_named() {
        let product = Uuid::now_v7().to_string();
        let asked = |key: &str, resident: &str, product: &str| pb::CreateOrderRequest {
            idempotency_key: key.into(),
            resident_id: resident.into(),
            product_id: product.into(),
            quantity: 1,
        };
        let order = new_order(&asked(" k-1 ", " ", &product)).unwrap();
        assert_eq!(order.key.as_str(), "k-1");
        assert_eq!(order.resident, None, "blank means the caller");
        assert_eq!(order.product.to_string(), product);
        assert_eq!(
            named(new_order(&asked("", "", &product))),
            "idempotency_key"
        );
        assert_eq!(
            named(new_order(&asked("键", "", &product))),
            "idempotency_key"
        );
        assert_eq!(
            named(new_order(&asked("k", "zhang", &product))),
            "resident_id"
        );
        assert_eq!(
            named(new_order(&asked("k", "", "not-a-uuid"))),
            "product_id"
        );
    }

    #[test]
    fn a_listing_owner_is_parsed_or_named() {
        use pb::list_orders_request::Owner;
        let id = Uuid::now_v7();
        assert_eq!(order_owner(None).unwrap(), (None, None));
        assert_eq!(
            order_owner(Some(&Owner::ResidentId(" ".into()))).unwrap(),
            (None, None)
        );
        assert_eq!(
            order_owner(Some(&Owner::MerchantId(id.to_string()))).unwrap(),
            (None, Some(id.into()))
        );
        assert_eq!(
            named(order_owner(Some(&Owner::ResidentId("zhang".into())))),
            "resident_id"
        );
    }
}
