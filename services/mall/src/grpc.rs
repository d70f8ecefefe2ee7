//! The thin gRPC adapter of a mall: each RPC checks its caller, converts its message
//! (`convert.rs`, also the one place a domain error becomes a `Status`), calls the service and
//! converts the answer.

use healthpoints_auth::optional_principal;
use healthpoints_errors::ApiError;
use healthpoints_grpc::{Ready, caller};
use healthpoints_proto::{
    common::v1::Yuan,
    mall::v1::{self as pb, mall_service_server::MallService},
};
use healthpoints_types::{IdempotencyKey, MerchantId, OrderId, ProductId};
use tonic::{Request, Response, Status};

use crate::{
    clients::{IdentityResidents, LedgerRedemptions},
    service::Mall,
};

use crate::convert::{
    field, merchant_status_from_pb, merchant_to_pb, new_order, order_owner, order_to_pb, page_info,
    page_request, product_to_pb, spec_from_pb, statement_to_pb, status,
};

/// The mall domain as the server runs it.
pub type LiveMall = Mall<IdentityResidents, LedgerRedemptions>;

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
        let m = self.ready()?;
        let id = field("merchant_id", MerchantId::parse(&r.merchant_id))?;
        let merchant = m
            .set_merchant_status(&p, id, merchant_status_from_pb(r.status), &r.reason)
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
        let m = self.ready()?;
        let (id, spec) = spec_from_pb(product)?;
        let id = field("product.product_id", ProductId::parse(&id))?;
        let product = m.update_product(&p, id, &spec).await.map_err(status)?;
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
        let m = self.ready()?;
        let merchant = field("merchant_id", MerchantId::parse_optional(&r.merchant_id))?;
        let page = m
            .products(p.as_ref(), merchant, size, &cursor)
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
        let order = m.create_order(&p, new_order(&r)?).await.map_err(status)?;
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
        let id = field("order_id", OrderId::parse(&request.into_inner().order_id))?;
        let order = m.order(&p, id).await.map_err(status)?;
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
        let (size, cursor) = page_request(r.page);
        let m = self.ready()?;
        let (resident, merchant) = order_owner(r.owner.as_ref())?;
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
        let id = field("order_id", OrderId::parse(&request.into_inner().order_id))?;
        let order = m.cancel(&p, id).await.map_err(status)?;
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
        let key = match r.idempotency_key.as_str() {
            "" => None,
            k => Some(field("idempotency_key", IdempotencyKey::parse(k))?),
        };
        let done = m
            .write_off(&p, &r.code, key.as_ref())
            .await
            .map_err(status)?;
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
        let id = field("order_id", OrderId::parse(&r.order_id))?;
        let order = m.refund(&p, id, &r.reason).await.map_err(status)?;
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
        let m = self.ready()?;
        let merchant = field("merchant_id", MerchantId::parse_optional(&r.merchant_id))?;
        let statements = m
            .statements(&p, merchant, &r.period)
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
        let m = self.ready()?;
        let merchant = field("merchant_id", MerchantId::parse(&r.merchant_id))?;
        let statement = m.close(&p, merchant, &r.period).await.map_err(status)?;
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
