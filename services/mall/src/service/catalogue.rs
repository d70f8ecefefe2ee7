//! Merchants and their catalogue: admitting a merchant, its status, the public list, and the
//! products a merchant sells, each field checked against the mall's bounds.

use super::*;

impl<R: Residents, L: PointsLedger> Mall<R, L> {
    // === merchants ===

    pub async fn admit_merchant(
        &self,
        caller: &Principal,
        name: &str,
        licence_no: &str,
        contact: &str,
        status: Option<MerchantStatus>,
    ) -> Result<Merchant> {
        self.admin(caller)?;
        let merchant = Merchant {
            merchant_id: Uuid::now_v7(),
            name: text("name", name, 120)?,
            licence_no: text("licence_no", licence_no, 64)?,
            contact: text("contact", contact, 200)?,
            status: status.unwrap_or(MerchantStatus::Active),
            admitted_at: self.now(),
        };
        self.store.admit_merchant(&merchant).await?;
        tracing::info!(mall = %self.options.mall, merchant = %merchant.merchant_id, "merchant admitted");
        Ok(merchant)
    }

    pub async fn set_merchant_status(
        &self,
        caller: &Principal,
        id: MerchantId,
        status: Option<MerchantStatus>,
        reason: &str,
    ) -> Result<Merchant> {
        self.admin(caller)?;
        let status = status
            .ok_or_else(|| MallError::invalid("status", "must be pending, active or suspended"))?;
        if status == MerchantStatus::Suspended && reason.trim().is_empty() {
            return Err(MallError::invalid("reason", "a suspension needs a reason"));
        }
        let reason = free_text(reason, 500, false, Lines::One)
            .map_err(|e| MallError::invalid("reason", e.0))?;
        self.store
            .set_merchant_status(id.uuid(), status, &reason)
            .await?
            .ok_or_else(|| MallError::NotFound("merchant".into()))
    }

    /// Every admitted merchant (public).
    pub async fn merchants(&self, size: u32, after: &str) -> Result<Page<Merchant>> {
        let size = page_size(size);
        let items = self
            .store
            .merchants(cursor("page.cursor", after)?, size)
            .await?;
        Ok(page(items, size, |m| m.merchant_id))
    }

    // === catalogue ===

    fn check_product(&self, spec: &ProductSpec, p: &mut Product) -> Result<()> {
        p.title = text("product.title", &spec.title, 80)?;
        p.description = free_text(&spec.description, 2000, false, Lines::Many)
            .map_err(|e| MallError::invalid("product.description", e.0))?;
        p.category = spec.category.ok_or_else(|| {
            MallError::invalid(
                "product.category",
                "must be health_service or health_product",
            )
        })?;
        if !(1..=10_000_000).contains(&spec.price_points) {
            return Err(MallError::invalid(
                "product.price_points",
                "must be between 1 and 10,000,000 points",
            ));
        }
        p.price_points = spec.price_points;
        if spec.stock.is_some_and(|s| s > 1_000_000) {
            return Err(MallError::invalid(
                "product.stock",
                "must be at most 1,000,000 (leave it out for unlimited)",
            ));
        }
        p.stock = spec.stock;
        if spec.per_resident_limit == Some(0) {
            return Err(MallError::invalid(
                "product.per_resident_limit",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        p.per_resident_limit = spec.per_resident_limit;
        p.limit_period = match spec.limit_period.trim() {
            "" => LimitPeriod::Month,
            other => LimitPeriod::parse(other).ok_or_else(|| {
                MallError::invalid("product.limit_period", "must be day, week, month or year")
            })?,
        };
        if let (Some(from), Some(until)) = (spec.available_from, spec.available_until)
            && from >= until
        {
            return Err(MallError::invalid(
                "product.available_until",
                "must be after available_from",
            ));
        }
        p.available_from = spec.available_from;
        p.available_until = spec.available_until;
        if spec.min_age.is_some_and(|a| a > 120) {
            return Err(MallError::invalid("product.min_age", "must be at most 120"));
        }
        p.min_age = spec.min_age.filter(|a| *a > 0);
        p.status = spec.status.unwrap_or(ProductStatus::Active);
        Ok(())
    }

    pub async fn create_product(&self, caller: &Principal, spec: &ProductSpec) -> Result<Product> {
        let merchant_id = self.merchant_of(caller)?;
        self.store
            .merchant(merchant_id)
            .await?
            .ok_or_else(|| MallError::Forbidden("this merchant is not admitted here".into()))?;
        let mut product = Product {
            product_id: Uuid::now_v7(),
            merchant_id,
            title: String::new(),
            description: String::new(),
            category: crate::domain::model::ProductCategory::HealthService,
            price_points: 0,
            stock: None,
            per_resident_limit: None,
            limit_period: LimitPeriod::Month,
            available_from: None,
            available_until: None,
            min_age: None,
            status: ProductStatus::Active,
        };
        self.check_product(spec, &mut product)?;
        self.store.save_product(&product, self.now(), true).await?;
        Ok(product)
    }

    /// Replaces a product's fields. Orders already placed keep the price they were placed at.
    pub async fn update_product(
        &self,
        caller: &Principal,
        id: ProductId,
        spec: &ProductSpec,
    ) -> Result<Product> {
        let merchant_id = self.merchant_of(caller)?;
        let mut product = self
            .store
            .product(id.uuid())
            .await?
            .filter(|p| p.merchant_id == merchant_id)
            .ok_or_else(|| MallError::NotFound("product".into()))?;
        self.check_product(spec, &mut product)?;
        if !self.store.save_product(&product, self.now(), false).await? {
            return Err(MallError::NotFound("product".into()));
        }
        Ok(product)
    }

    /// The public catalogue; a merchant's operator asking for their own merchant also sees
    /// inactive and past products.
    pub async fn products(
        &self,
        caller: Option<&Principal>,
        merchant: Option<MerchantId>,
        size: u32,
        after: &str,
    ) -> Result<Page<Product>> {
        let merchant = merchant.map(MerchantId::uuid);
        let own = merchant.is_some() && caller.and_then(|c| self.merchant_of(c).ok()) == merchant;
        let size = page_size(size);
        let items = self
            .store
            .products(
                merchant,
                (!own).then(|| self.now()),
                cursor("page.cursor", after)?,
                size,
            )
            .await?;
        Ok(page(items, size, |p| p.product_id))
    }
}
