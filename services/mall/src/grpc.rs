//! The thin gRPC adapter of a mall: wire messages ⇄ domain values, and the one place where
//! [`MallError`] becomes a `Status`.

use chrono::{DateTime, Utc};
use healthpoints_auth::optional_principal;
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::time::{read_optional, timestamp as ts};
use healthpoints_grpc::{Ready, caller};
use healthpoints_proto::{
    common::v1::{PageInfo, PageRequest, Yuan},
    mall::v1::{self as pb, mall_service_server::MallService},
};
use tonic::{Request, Response, Status};

use crate::{
    clients::{IdentityResidents, LedgerRedemptions},
    domain::{
        error::MallError,
        model::{
            Merchant, MerchantStatus, Order, OrderStatus, Product, ProductCategory, ProductStatus,
            Statement, scan_payload,
        },
    },
    service::{Mall, Page, ProductSpec},
};

/// The mall domain as the server runs it.
pub type LiveMall = Mall<IdentityResidents, LedgerRedemptions>;

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
        e @ MallError::Store(_) => {
            tracing::error!(error = %e, "mall request failed");
            ApiError::internal()
        }
    }
}

fn status(err: MallError) -> Status {
    to_api_error(err).into()
}

fn merchant_status_to_pb(s: MerchantStatus) -> pb::MerchantStatus {
    match s {
        MerchantStatus::Pending => pb::MerchantStatus::Pending,
        MerchantStatus::Active => pb::MerchantStatus::Active,
        MerchantStatus::Suspended => pb::MerchantStatus::Suspended,
    }
}

fn merchant_status_from_pb(s: i32) -> Option<MerchantStatus> {
    match pb::MerchantStatus::try_from(s).unwrap_or_default() {
        pb::MerchantStatus::Pending => Some(MerchantStatus::Pending),
        pb::MerchantStatus::Active => Some(MerchantStatus::Active),
        pb::MerchantStatus::Suspended => Some(MerchantStatus::Suspended),
        pb::MerchantStatus::Unspecified => None,
    }
}

fn merchant_to_pb(m: &Merchant) -> pb::Merchant {
    pb::Merchant {
        merchant_id: m.merchant_id.to_string(),
        name: m.name.clone(),
        licence_no: m.licence_no.clone(),
        contact: m.contact.clone(),
        status: merchant_status_to_pb(m.status) as i32,
        admitted_at: Some(ts(m.admitted_at)),
    }
}

fn product_to_pb(p: &Product) -> pb::Product {
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

fn spec_from_pb(p: pb::Product) -> Result<(String, ProductSpec), Status> {
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

fn order_status_to_pb(s: OrderStatus) -> pb::OrderStatus {
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

fn statement_to_pb(s: &Statement) -> pb::SettlementStatement {
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

fn page_info<T>(p: &Page<T>) -> Option<PageInfo> {
    Some(PageInfo {
        next_cursor: p.next.clone().unwrap_or_default(),
    })
}

fn page_request(p: Option<PageRequest>) -> (u32, String) {
    let p = p.unwrap_or_default();
    (p.page_size, p.cursor)
}

/// The mall's gRPC service; answers UNAVAILABLE until its database is ready.
#[derive(Debug, Clone)]
pub struct MallGrpc {
    mall: Ready<LiveMall>,
}

impl MallGrpc {
    pub fn new(mall: Ready<LiveMall>) -> Self {
        Self { mall }
    }

    fn ready(&self) -> Result<&LiveMall, Status> {
        self.mall.get()
    }
}

#[tonic::async_trait]
impl MallService for MallGrpc {
    #[tracing::instrument(name = "mall.GetMallInfo", skip_all)]
    async fn get_mall_info(
        &self,
        _request: Request<pb::GetMallInfoRequest>,
    ) -> Result<Response<pb::GetMallInfoResponse>, Status> {
        let m = self.ready()?;
        Ok(Response::new(pb::GetMallInfoResponse {
            mall: m.mall().to_string(),
            book: m.book().to_string(),
            name: m.name().to_owned(),
        }))
    }

    #[tracing::instrument(name = "mall.AdmitMerchant", skip_all)]
    async fn admit_merchant(
        &self,
        request: Request<pb::AdmitMerchantRequest>,
    ) -> Result<Response<pb::AdmitMerchantResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let merchant = self
            .ready()?
            .admit_merchant(
                &p,
                &r.name,
                &r.licence_no,
                &r.contact,
                merchant_status_from_pb(r.status),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AdmitMerchantResponse {
            merchant: Some(merchant_to_pb(&merchant)),
        }))
    }

    #[tracing::instrument(name = "mall.SetMerchantStatus", skip_all)]
    async fn set_merchant_status(
        &self,
        request: Request<pb::SetMerchantStatusRequest>,
    ) -> Result<Response<pb::SetMerchantStatusResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let merchant = self
            .ready()?
            .set_merchant_status(
                &p,
                &r.merchant_id,
                merchant_status_from_pb(r.status),
                &r.reason,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetMerchantStatusResponse {
            merchant: Some(merchant_to_pb(&merchant)),
        }))
    }

    #[tracing::instrument(name = "mall.ListMerchants", skip_all)]
    async fn list_merchants(
        &self,
        request: Request<pb::ListMerchantsRequest>,
    ) -> Result<Response<pb::ListMerchantsResponse>, Status> {
        let (size, cursor) = page_request(request.into_inner().page);
        let page = self
            .ready()?
            .merchants(size, &cursor)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListMerchantsResponse {
            merchants: page.items.iter().map(merchant_to_pb).collect(),
            page: page_info(&page),
        }))
    }

    #[tracing::instrument(name = "mall.CreateProduct", skip_all)]
    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::CreateProductResponse>, Status> {
        let p = caller(&request)?;
        let product = request
            .into_inner()
            .product
            .ok_or_else(|| Status::from(ApiError::invalid("product", "must be set")))?;
        let (_, spec) = spec_from_pb(product)?;
        let product = self
            .ready()?
            .create_product(&p, &spec)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateProductResponse {
            product: Some(product_to_pb(&product)),
        }))
    }

    #[tracing::instrument(name = "mall.UpdateProduct", skip_all)]
    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::UpdateProductResponse>, Status> {
        let p = caller(&request)?;
        let product = request
            .into_inner()
            .product
            .ok_or_else(|| Status::from(ApiError::invalid("product", "must be set")))?;
        let (id, spec) = spec_from_pb(product)?;
        let product = self
            .ready()?
            .update_product(&p, &id, &spec)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::UpdateProductResponse {
            product: Some(product_to_pb(&product)),
        }))
    }

    #[tracing::instrument(name = "mall.ListProducts", skip_all)]
    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        let p = optional_principal(&request);
        let r = request.into_inner();
        let (size, cursor) = page_request(r.page);
        let page = self
            .ready()?
            .products(p.as_ref(), &r.merchant_id, size, &cursor)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListProductsResponse {
            products: page.items.iter().map(product_to_pb).collect(),
            page: page_info(&page),
        }))
    }

    #[tracing::instrument(name = "mall.CreateOrder", skip_all)]
    async fn create_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::CreateOrderResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let m = self.ready()?;
        let order = m
            .create_order(
                &p,
                &r.idempotency_key,
                &r.resident_id,
                &r.product_id,
                r.quantity,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateOrderResponse {
            order: Some(order_to_pb(&order, &m.mall().to_string())),
        }))
    }

    #[tracing::instrument(name = "mall.GetOrder", skip_all)]
    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        let p = caller(&request)?;
        let m = self.ready()?;
        let order = m
            .order(&p, &request.into_inner().order_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetOrderResponse {
            order: Some(order_to_pb(&order, &m.mall().to_string())),
        }))
    }

    #[tracing::instrument(name = "mall.ListOrders", skip_all)]
    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let (resident, merchant) = match &r.owner {
            Some(pb::list_orders_request::Owner::ResidentId(id)) => (Some(id.as_str()), None),
            Some(pb::list_orders_request::Owner::MerchantId(id)) => (None, Some(id.as_str())),
            None => (None, None),
        };
        let (size, cursor) = page_request(r.page);
        let m = self.ready()?;
        let page = m
            .orders(&p, resident, merchant, size, &cursor)
            .await
            .map_err(status)?;
        let mall = m.mall().to_string();
        Ok(Response::new(pb::ListOrdersResponse {
            orders: page.items.iter().map(|o| order_to_pb(o, &mall)).collect(),
            page: page_info(&page),
        }))
    }

    #[tracing::instrument(name = "mall.CancelOrder", skip_all)]
    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let p = caller(&request)?;
        let m = self.ready()?;
        let order = m
            .cancel(&p, &request.into_inner().order_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CancelOrderResponse {
            order: Some(order_to_pb(&order, &m.mall().to_string())),
        }))
    }

    #[tracing::instrument(name = "mall.WriteOffVoucher", skip_all)]
    async fn write_off_voucher(
        &self,
        request: Request<pb::WriteOffVoucherRequest>,
    ) -> Result<Response<pb::WriteOffVoucherResponse>, Status> {
        let p = caller(&request)?;
        let m = self.ready()?;
        let r = request.into_inner();
        let key = Some(r.idempotency_key.as_str()).filter(|k| !k.is_empty());
        let done = m.write_off(&p, &r.code, key).await.map_err(status)?;
        Ok(Response::new(pb::WriteOffVoucherResponse {
            order: Some(order_to_pb(&done.order, &m.mall().to_string())),
            replay: done.replay,
        }))
    }

    #[tracing::instrument(name = "mall.GetVoucher", skip_all)]
    async fn get_voucher(
        &self,
        request: Request<pb::GetVoucherRequest>,
    ) -> Result<Response<pb::GetVoucherResponse>, Status> {
        let p = caller(&request)?;
        let m = self.ready()?;
        let v = m
            .voucher(&p, &request.into_inner().code)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetVoucherResponse {
            order: Some(order_to_pb(&v.order, &m.mall().to_string())),
            resident_name_masked: v.resident_name_masked,
            can_write_off: v.can_write_off,
        }))
    }

    #[tracing::instrument(name = "mall.RefundOrder", skip_all)]
    async fn refund_order(
        &self,
        request: Request<pb::RefundOrderRequest>,
    ) -> Result<Response<pb::RefundOrderResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let m = self.ready()?;
        let order = m.refund(&p, &r.order_id, &r.reason).await.map_err(status)?;
        Ok(Response::new(pb::RefundOrderResponse {
            order: Some(order_to_pb(&order, &m.mall().to_string())),
        }))
    }

    #[tracing::instrument(name = "mall.ListSettlements", skip_all)]
    async fn list_settlements(
        &self,
        request: Request<pb::ListSettlementsRequest>,
    ) -> Result<Response<pb::ListSettlementsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let statements = self
            .ready()?
            .statements(&p, &r.merchant_id, &r.period)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListSettlementsResponse {
            statements: statements.iter().map(statement_to_pb).collect(),
        }))
    }

    #[tracing::instrument(name = "mall.CloseSettlement", skip_all)]
    async fn close_settlement(
        &self,
        request: Request<pb::CloseSettlementRequest>,
    ) -> Result<Response<pb::CloseSettlementResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let statement = self
            .ready()?
            .close(&p, &r.merchant_id, &r.period)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CloseSettlementResponse {
            statement: Some(statement_to_pb(&statement)),
        }))
    }

    #[tracing::instrument(name = "mall.GetMallStatistics", skip_all)]
    async fn get_mall_statistics(
        &self,
        request: Request<pb::GetMallStatisticsRequest>,
    ) -> Result<Response<pb::GetMallStatisticsResponse>, Status> {
        let p = caller(&request)?;
        let s = self.ready()?.statistics(&p).await.map_err(status)?;
        Ok(Response::new(pb::GetMallStatisticsResponse {
            merchants_active: s.merchants_active,
            products_active: s.products_active,
            orders_reserved: s.orders_reserved,
            orders_written_off: s.orders_written_off,
            points_redeemed: s.points_redeemed,
            yuan_redeemed: Some(Yuan::from_points(s.points_redeemed)),
        }))
    }
}
