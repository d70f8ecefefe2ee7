//! Gamification tables: challenges and who joined them, and leaderboard opt-ins. Progress and
//! leaderboard totals are read from the events themselves, so they always agree with outcomes.

use chrono::{DateTime, Utc};
use healthpoints_types::DistrictCode;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Order, Query},
};
use uuid::Uuid;

use super::{
    CHUNK, Store, corrupt,
    entities::{challenge, challenge_member, event, leaderboard_member},
    time, to_i64, to_u64,
};
use crate::domain::{
    catalogue::Level,
    error::Result,
    model::OutcomeKind,
    play::{Challenge, LeaderboardRow},
};

fn to_challenge(m: challenge::Model) -> Result<Challenge> {
    Ok(Challenge {
        id: m.id,
        title: m.title,
        district: (!m.district.is_empty())
            .then(|| DistrictCode::parse(&m.district).map_err(|_| corrupt("district")))
            .transpose()?,
        behaviour_code: m.behaviour_code,
        daily_min_quantity: to_u64(m.daily_min_quantity, "quantity")?,
        days_required: u32::try_from(m.days_required).map_err(|_| corrupt("days"))?,
        starts_at: time(m.starts_at_us)?,
        ends_at: time(m.ends_at_us)?,
        bonus_points: to_u64(m.bonus_points, "points")?,
        level: match m.level.as_str() {
            "city" => Level::City,
            "district" => Level::District,
            _ => return Err(corrupt("level")),
        },
        created_by: m.created_by,
    })
}

/// Kinds of outcome that show the behaviour happened (capped ones too: the cap limits points,
/// not the fact); held ones count once released.
const HAPPENED: [&str; 3] = ["pending", "awarded", "capped"];

impl Store {
    pub async fn insert_challenge(&self, c: &Challenge, at: DateTime<Utc>) -> Result<()> {
        challenge::Entity::insert(challenge::ActiveModel {
            id: Set(c.id),
            title: Set(c.title.clone()),
            district: Set(c.district.map(|d| d.to_string()).unwrap_or_default()),
            behaviour_code: Set(c.behaviour_code.clone()),
            daily_min_quantity: Set(to_i64(c.daily_min_quantity)?),
            days_required: Set(i64::from(c.days_required)),
            starts_at_us: Set(c.starts_at.timestamp_micros()),
            ends_at_us: Set(c.ends_at.timestamp_micros()),
            bonus_points: Set(to_i64(c.bonus_points)?),
            level: Set(match c.level {
                Level::City => "city",
                Level::District => "district",
            }
            .to_owned()),
            created_by: Set(c.created_by.clone()),
            created_at_us: Set(at.timestamp_micros()),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    pub async fn challenge(&self, id: Uuid) -> Result<Option<Challenge>> {
        challenge::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_challenge)
            .transpose()
    }

    /// City-wide challenges and those of `district` that end after `ended_after`, soonest
    /// start first.
    pub async fn challenges_open_to(
        &self,
        district: Option<DistrictCode>,
        ended_after: DateTime<Utc>,
    ) -> Result<Vec<Challenge>> {
        let districts = [
            String::new(),
            district.map(|d| d.to_string()).unwrap_or_default(),
        ];
        challenge::Entity::find()
            .filter(challenge::Column::District.is_in(districts))
            .filter(challenge::Column::EndsAtUs.gt(ended_after.timestamp_micros()))
            .order_by_asc(challenge::Column::StartsAtUs)
            .order_by_asc(challenge::Column::Id)
            .limit(200)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_challenge)
            .collect()
    }

    /// Joins (again: nothing changes).
    pub async fn join_challenge(
        &self,
        challenge_id: Uuid,
        resident_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        challenge_member::Entity::insert(challenge_member::ActiveModel {
            challenge_id: Set(challenge_id),
            resident_id: Set(resident_id.to_owned()),
            joined_at_us: Set(at.timestamp_micros()),
            bonus_event_id: Set(None),
        })
        .on_conflict(
            OnConflict::columns([
                challenge_member::Column::ChallengeId,
                challenge_member::Column::ResidentId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The challenges a resident joined, with the bonus event of those completed.
    pub async fn memberships(&self, resident_id: &str) -> Result<Vec<(Uuid, Option<Uuid>)>> {
        Ok(challenge_member::Entity::find()
            .select_only()
            .column(challenge_member::Column::ChallengeId)
            .column(challenge_member::Column::BonusEventId)
            .filter(challenge_member::Column::ResidentId.eq(resident_id))
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Uncompleted memberships of these residents in challenges on these behaviours that end
    /// after `ended_after`.
    pub async fn open_memberships(
        &self,
        residents: &[String],
        behaviours: &[String],
        ended_after: DateTime<Utc>,
    ) -> Result<Vec<(Challenge, String)>> {
        let challenges: Vec<Challenge> = challenge::Entity::find()
            .filter(challenge::Column::BehaviourCode.is_in(behaviours.iter().map(String::as_str)))
            .filter(challenge::Column::EndsAtUs.gt(ended_after.timestamp_micros()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_challenge)
            .collect::<Result<_>>()?;
        if challenges.is_empty() {
            return Ok(Vec::new());
        }
        let mut open = Vec::new();
        for chunk in residents.chunks(CHUNK) {
            let members: Vec<(Uuid, String)> = challenge_member::Entity::find()
                .select_only()
                .column(challenge_member::Column::ChallengeId)
                .column(challenge_member::Column::ResidentId)
                .filter(
                    challenge_member::Column::ChallengeId.is_in(challenges.iter().map(|c| c.id)),
                )
                .filter(
                    challenge_member::Column::ResidentId.is_in(chunk.iter().map(String::as_str)),
                )
                .filter(challenge_member::Column::BonusEventId.is_null())
                .into_tuple()
                .all(&self.db)
                .await?;
            for (id, resident) in members {
                if let Some(c) = challenges.iter().find(|c| c.id == id) {
                    open.push((c.clone(), resident));
                }
            }
        }
        Ok(open)
    }

    /// Records the completion bonus of a membership (once; later calls change nothing).
    pub async fn complete_challenge(
        &self,
        challenge_id: Uuid,
        resident_id: &str,
        bonus_event_id: Uuid,
    ) -> Result<()> {
        challenge_member::Entity::update_many()
            .col_expr(
                challenge_member::Column::BonusEventId,
                Expr::value(bonus_event_id),
            )
            .filter(challenge_member::Column::ChallengeId.eq(challenge_id))
            .filter(challenge_member::Column::ResidentId.eq(resident_id))
            .filter(challenge_member::Column::BonusEventId.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// (occurrence, quantity) of the resident's reports of a behaviour that happened in
    /// `[from, to)`.
    pub async fn happened(
        &self,
        resident_id: &str,
        behaviour_code: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>> {
        let rows: Vec<(i64, i64)> = event::Entity::find()
            .select_only()
            .column(event::Column::OccurredAtUs)
            .column(event::Column::Quantity)
            .filter(event::Column::ResidentId.eq(resident_id))
            .filter(event::Column::BehaviourCode.eq(behaviour_code))
            .filter(event::Column::OccurredAtUs.gte(from.timestamp_micros()))
            .filter(event::Column::OccurredAtUs.lt(to.timestamp_micros()))
            .filter(event::Column::Kind.is_in(HAPPENED))
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(at, q)| Ok((time(at)?, to_u64(q, "quantity")?)))
            .collect()
    }

    /// Opts a resident in or out, keeping the name and district leaderboards show.
    pub async fn set_leaderboard(
        &self,
        resident_id: &str,
        opt_in: bool,
        name_masked: &str,
        district: Option<DistrictCode>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        leaderboard_member::Entity::insert(leaderboard_member::ActiveModel {
            resident_id: Set(resident_id.to_owned()),
            opt_in: Set(opt_in),
            name_masked: Set(name_masked.to_owned()),
            district: Set(district.map(|d| d.to_string()).unwrap_or_default()),
            updated_at_us: Set(at.timestamp_micros()),
        })
        .on_conflict(
            OnConflict::column(leaderboard_member::Column::ResidentId)
                .update_columns([
                    leaderboard_member::Column::OptIn,
                    leaderboard_member::Column::NameMasked,
                    leaderboard_member::Column::District,
                    leaderboard_member::Column::UpdatedAtUs,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Opted-in residents (of `district`, or all) by points awarded for events that occurred
    /// in `[from, to)`, most first; ties by resident id so pages are stable.
    pub async fn leaderboard(
        &self,
        district: Option<DistrictCode>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<LeaderboardRow>> {
        let e = |c: event::Column| Expr::col((event::Entity, c));
        let m = |c: leaderboard_member::Column| Expr::col((leaderboard_member::Entity, c));
        // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so both backends read an i64.
        let total = Expr::cust("CAST(SUM(events.points) AS BIGINT)");
        let mut query = Query::select();
        query
            .expr_as(
                m(leaderboard_member::Column::ResidentId),
                Alias::new("resident_id"),
            )
            .expr_as(
                m(leaderboard_member::Column::NameMasked),
                Alias::new("name_masked"),
            )
            .expr_as(
                m(leaderboard_member::Column::District),
                Alias::new("district"),
            )
            .expr_as(total.clone(), Alias::new("total"))
            .from(event::Entity)
            .inner_join(
                leaderboard_member::Entity,
                e(event::Column::ResidentId).equals((
                    leaderboard_member::Entity,
                    leaderboard_member::Column::ResidentId,
                )),
            )
            .and_where(m(leaderboard_member::Column::OptIn).eq(true))
            .and_where(
                e(event::Column::Kind)
                    .is_in([OutcomeKind::Awarded.as_str(), OutcomeKind::Pending.as_str()]),
            )
            .and_where(e(event::Column::OccurredAtUs).gte(from.timestamp_micros()))
            .and_where(e(event::Column::OccurredAtUs).lt(to.timestamp_micros()))
            .group_by_col((
                leaderboard_member::Entity,
                leaderboard_member::Column::ResidentId,
            ))
            .group_by_col((
                leaderboard_member::Entity,
                leaderboard_member::Column::NameMasked,
            ))
            .group_by_col((
                leaderboard_member::Entity,
                leaderboard_member::Column::District,
            ))
            .order_by_expr(total, Order::Desc)
            .order_by(
                (
                    leaderboard_member::Entity,
                    leaderboard_member::Column::ResidentId,
                ),
                Order::Asc,
            )
            .limit(limit);
        if let Some(d) = district {
            query.and_where(m(leaderboard_member::Column::District).eq(d.to_string()));
        }
        self.db
            .query_all(&query)
            .await?
            .into_iter()
            .map(|row| {
                let district: String = row.try_get("", "district")?;
                Ok(LeaderboardRow {
                    resident_id: row.try_get("", "resident_id")?,
                    name_masked: row.try_get("", "name_masked")?,
                    district: DistrictCode::parse(&district).ok(),
                    points: to_u64(row.try_get::<i64>("", "total")?, "points")?,
                })
            })
            .collect()
    }
}
