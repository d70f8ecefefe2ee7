//! Settlement: a merchant's statements per period and closing a period, which moves its net from
//! the merchant's payable account to its settled account.

use super::*;

impl<R: Residents, L: PointsLedger> Mall<R, L> {
    fn statement_merchant(
        &self,
        caller: &Principal,
        merchant_id: Option<MerchantId>,
    ) -> Result<Uuid> {
        if let Principal::Merchant { .. } = caller {
            let own = self.merchant_of(caller)?;
            if merchant_id.is_some_and(|m| m != own) {
                return Err(MallError::Forbidden(
                    "a merchant sees only its own statements".into(),
                ));
            }
            return Ok(own);
        }
        self.admin(caller)?;
        merchant_id
            .map(MerchantId::uuid)
            .ok_or_else(|| MallError::invalid("merchant_id", "must be a UUID"))
    }

    fn check_period(&self, period: &str) -> Result<DateTime<Utc>> {
        self.options.period.start_of(period.trim()).ok_or_else(|| {
            MallError::invalid(
                "period",
                match self.options.period {
                    PeriodKind::Month => "must be a month like 2026-11",
                    PeriodKind::Week => "must be an ISO week like 2026-W47",
                },
            )
        })
    }

    /// A merchant's statements: one period with its lines, or every period with activity
    /// (the current one always), newest first.
    pub async fn statements(
        &self,
        caller: &Principal,
        merchant_id: Option<MerchantId>,
        period: &str,
    ) -> Result<Vec<Statement>> {
        let merchant = self.statement_merchant(caller, merchant_id)?;
        if !period.trim().is_empty() {
            self.check_period(period)?;
            return Ok(vec![
                self.store.statement(merchant, period.trim(), true).await?,
            ]);
        }
        let mut periods = self.store.periods(merchant).await?;
        let current = self.options.period.period_of(self.now());
        if !periods.contains(&current) {
            periods.insert(0, current);
        }
        let mut out = Vec::with_capacity(periods.len());
        for p in periods {
            out.push(self.store.statement(merchant, &p, false).await?);
        }
        Ok(out)
    }

    /// Closes a period: the statement is fixed and its net moves from the merchant's payable to
    /// its settled account. Closing again answers the closed statement.
    pub async fn close(
        &self,
        caller: &Principal,
        merchant: MerchantId,
        period: &str,
    ) -> Result<Statement> {
        self.admin(caller)?;
        let merchant = merchant.uuid();
        let start = self.check_period(period)?;
        if start > self.now() {
            return Err(MallError::Refused("this period has not started yet".into()));
        }
        self.store
            .merchant(merchant)
            .await?
            .ok_or_else(|| MallError::NotFound("merchant".into()))?;
        let s = self
            .store
            .begin_close(merchant, period.trim(), Uuid::new_v4(), self.now())
            .await?;
        self.drive_close(s).await
    }

    pub(super) async fn drive_close(&self, s: Statement) -> Result<Statement> {
        if s.net_points() > 0 {
            match self.ledger.settle(&s).await? {
                LedgerAnswer::Done => {}
                other => {
                    return Err(MallError::fault(format!(
                        "the ledger refused a settlement: {other:?}"
                    )));
                }
            }
        }
        self.store.finish_close(s.merchant_id, &s.period).await?;
        self.store.statement(s.merchant_id, &s.period, true).await
    }

    pub async fn statistics(&self, caller: &Principal) -> Result<MallStatistics> {
        self.admin(caller)?;
        self.store.statistics().await
    }
}
