//! sea-orm entities of the intake database. Times are Unix microseconds (UTC).

pub(super) mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub source_id: String,
        pub source_event_id: String,
        pub resident_id: Option<String>,
        pub behaviour_code: String,
        pub occurred_at_us: i64,
        pub quantity: i64,
        pub district: Option<String>,
        pub attributes: String,
        pub received_at_us: i64,
        pub kind: String,
        pub points: i64,
        pub rule_code: Option<String>,
        pub rule_version: Option<i64>,
        pub cap: Option<String>,
        pub points_cut: i64,
        pub reason_code: Option<String>,
        pub reason: Option<String>,
        pub duplicate_of: Option<Uuid>,
        pub transfer_id: Option<Uuid>,
        pub book: Option<String>,
        pub decided_at_us: i64,
        pub category: Option<String>,
        pub cohort_district: Option<String>,
        pub age_band: Option<String>,
        pub residence_type: Option<String>,
        pub link_group: Option<Uuid>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod resident_lock {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resident_locks")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub resident_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod rule_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rule_versions")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub district: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub body: String,
        pub effective_from_us: i64,
        pub effective_until_us: Option<i64>,
        pub published_by: String,
        pub published_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod rule_draft {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rule_drafts")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub code: String,
        pub district: String,
        pub body: String,
        pub created_by: String,
        pub created_at_us: i64,
        pub published_version: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod rule_change {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rule_changes")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub code: String,
        pub district: String,
        pub version: i64,
        pub change: String,
        pub summary: String,
        pub changed_by: String,
        pub published_at_us: i64,
        pub effective_from_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod review_flag {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "review_flags")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub resident_id: String,
        pub district: String,
        pub reason_code: String,
        pub reason: String,
        pub flagged_by: String,
        pub flagged_at_us: i64,
        pub cleared_at_us: Option<i64>,
        pub cleared_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod challenge {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "challenges")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub title: String,
        pub district: String,
        pub behaviour_code: String,
        pub daily_min_quantity: i64,
        pub days_required: i64,
        pub starts_at_us: i64,
        pub ends_at_us: i64,
        pub bonus_points: i64,
        pub level: String,
        pub created_by: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod challenge_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "challenge_members")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub challenge_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub resident_id: String,
        pub joined_at_us: i64,
        pub bonus_event_id: Option<Uuid>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod leaderboard_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leaderboard_members")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub resident_id: String,
        pub opt_in: bool,
        pub name_masked: String,
        pub district: String,
        pub updated_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod expiry_policy {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "expiry_policies")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub book: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub policy: String,
        pub effective_from_us: i64,
        pub published_by: String,
        pub published_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
