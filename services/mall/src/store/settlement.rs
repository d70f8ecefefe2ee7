//! Settlement in the store: a merchant's statements per period (computed from its orders
//! until closed, then fixed), the periods with activity, closing a period in two steps, and
//! the mall's statistics.

use super::*;

impl Store {
    /// One merchant's statement for a period, from its orders (or as closed).
    pub async fn statement(&self, merchant: Uuid, period: &str, lines: bool) -> Result<Statement> {
        let closed = statement::Entity::find_by_id((merchant, period.to_owned()))
            .one(&self.db)
            .await?;
        let mut s = match closed {
            Some(c) => to_statement(c)?,
            None => compute(&self.db, merchant, period).await?,
        };
        if lines {
            s.lines = period_orders(&self.db, merchant, period)
                .await?
                .iter()
                .map(|o| {
                    to_line(
                        o,
                        o.refund_source.as_deref() == Some("payable")
                            && REFUNDED.contains(&o.status.as_str()),
                    )
                })
                .collect::<Result<_>>()?;
        }
        Ok(s)
    }

    /// Periods in which a merchant has write-offs, claw-backs or a closed statement, newest
    /// first.
    pub async fn periods(&self, merchant: Uuid) -> Result<Vec<String>> {
        let mut periods: Vec<String> = order::Entity::find()
            .select_only()
            .column(order::Column::SettlePeriod)
            .distinct()
            .filter(order::Column::MerchantId.eq(merchant))
            .filter(order::Column::SettlePeriod.is_not_null())
            .into_tuple::<Option<String>>()
            .all(&self.db)
            .await?
            .into_iter()
            .flatten()
            .collect();
        let clawed: Vec<Option<String>> = order::Entity::find()
            .select_only()
            .column(order::Column::RefundPeriod)
            .distinct()
            .filter(order::Column::MerchantId.eq(merchant))
            .filter(order::Column::RefundSource.eq("settled"))
            .into_tuple()
            .all(&self.db)
            .await?;
        let closed: Vec<String> = statement::Entity::find()
            .select_only()
            .column(statement::Column::Period)
            .filter(statement::Column::MerchantId.eq(merchant))
            .into_tuple()
            .all(&self.db)
            .await?;
        periods.extend(clawed.into_iter().flatten());
        periods.extend(closed);
        periods.sort_unstable_by(|a, b| b.cmp(a));
        periods.dedup();
        Ok(periods)
    }

    /// Fixes a period's statement (`closing` until its ledger transfer is made), or answers
    /// the one already fixed. Write-offs and refunds lock the merchant too, so none slips into
    /// the period while it is being summed.
    pub async fn begin_close(
        &self,
        merchant: Uuid,
        period: &str,
        transfer_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Statement> {
        let txn = self.db.begin().await?;
        lock_merchant(&txn, merchant).await?;
        if let Some(existing) = statement::Entity::find_by_id((merchant, period.to_owned()))
            .one(&txn)
            .await?
        {
            return to_statement(existing);
        }
        let mut s = compute(&txn, merchant, period).await?;
        s.closed = false;
        s.transfer_id = Some(transfer_id);
        s.closed_at = Some(now);
        let count = |n: u32| i32::try_from(n).map_err(|_| corrupt("count"));
        statement::Entity::insert(statement::ActiveModel {
            merchant_id: Set(merchant),
            period: Set(period.to_owned()),
            status: Set("closing".into()),
            written_off: Set(count(s.written_off)?),
            refunded: Set(count(s.refunded)?),
            redeemed_points: Set(db_points(s.redeemed_points)?),
            refunded_points: Set(db_points(s.refunded_points)?),
            clawed_back: Set(count(s.clawed_back)?),
            clawed_back_points: Set(db_points(s.clawed_back_points)?),
            transfer_id: Set(transfer_id),
            closed_at_us: Set(now.timestamp_micros()),
        })
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok(s)
    }

    pub async fn finish_close(&self, merchant: Uuid, period: &str) -> Result<()> {
        statement::Entity::update_many()
            .col_expr(statement::Column::Status, Expr::value("closed"))
            .filter(statement::Column::MerchantId.eq(merchant))
            .filter(statement::Column::Period.eq(period))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Statements whose ledger transfer is not confirmed yet.
    pub async fn closing(&self) -> Result<Vec<Statement>> {
        statement::Entity::find()
            .filter(statement::Column::Status.eq("closing"))
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_statement)
            .collect()
    }

    pub async fn statistics(&self) -> Result<MallStatistics> {
        let merchants_active = merchant::Entity::find()
            .filter(merchant::Column::Status.eq("active"))
            .count(&self.db)
            .await?;
        let products_active = product::Entity::find()
            .filter(product::Column::Status.eq("active"))
            .count(&self.db)
            .await?;
        let orders_reserved = order::Entity::find()
            .filter(order::Column::Status.eq("reserved"))
            .count(&self.db)
            .await?;
        let orders_written_off = order::Entity::find()
            .filter(order::Column::Status.is_in(["written_off", "refunding"]))
            .count(&self.db)
            .await?;
        let redeemed: Option<i64> = order::Entity::find()
            .select_only()
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(points), 0) AS BIGINT)"),
                "redeemed",
            )
            .filter(order::Column::Status.is_in(["written_off", "refunding"]))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(MallStatistics {
            merchants_active,
            products_active,
            orders_reserved,
            orders_written_off,
            points_redeemed: points(redeemed.unwrap_or(0))?,
        })
    }
}

async fn period_orders(
    db: &impl ConnectionTrait,
    merchant: Uuid,
    period: &str,
) -> Result<Vec<order::Model>> {
    Ok(order::Entity::find()
        .filter(order::Column::MerchantId.eq(merchant))
        .filter(order::Column::SettlePeriod.eq(period))
        .filter(order::Column::Status.is_in(WRITTEN_OFF))
        .order_by_asc(order::Column::WrittenOffAtUs)
        .all(db)
        .await?)
}

/// A period's figures from its orders.
async fn compute(db: &impl ConnectionTrait, merchant: Uuid, period: &str) -> Result<Statement> {
    let mut s = Statement {
        merchant_id: merchant,
        period: period.to_owned(),
        ..Statement::default()
    };
    for o in period_orders(db, merchant, period).await? {
        s.written_off += 1;
        s.redeemed_points += points(o.points)?;
        if o.refund_source.as_deref() == Some("payable") && REFUNDED.contains(&o.status.as_str()) {
            s.refunded += 1;
            s.refunded_points += points(o.points)?;
        }
    }
    let clawed = order::Entity::find()
        .filter(order::Column::MerchantId.eq(merchant))
        .filter(order::Column::RefundPeriod.eq(period))
        .filter(order::Column::RefundSource.eq("settled"))
        .filter(order::Column::Status.is_in(REFUNDED))
        .all(db)
        .await?;
    for o in clawed {
        s.clawed_back += 1;
        s.clawed_back_points += points(o.points)?;
    }
    Ok(s)
}

fn to_statement(m: statement::Model) -> Result<Statement> {
    Ok(Statement {
        merchant_id: m.merchant_id,
        period: m.period,
        closed: m.status == "closed",
        written_off: m.written_off.unsigned_abs(),
        refunded: m.refunded.unsigned_abs(),
        redeemed_points: points(m.redeemed_points)?,
        refunded_points: points(m.refunded_points)?,
        clawed_back: m.clawed_back.unsigned_abs(),
        clawed_back_points: points(m.clawed_back_points)?,
        transfer_id: Some(m.transfer_id),
        closed_at: Some(time(m.closed_at_us)?),
        lines: Vec::new(),
    })
}
