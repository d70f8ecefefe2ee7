//! sea-orm entities of the ledger database. Amounts are `BIGINT` (points fit easily); times are
//! Unix microseconds so they round-trip exactly into the journal's hashed bytes.

pub(super) mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub book: String,
        pub kind: String,
        pub owner_id: String,
        pub debits_posted: i64,
        pub credits_posted: i64,
        pub debits_pending: i64,
        pub credits_pending: i64,
        pub budget: Option<i64>,
        pub opened_at_us: i64,
        /// `crate::domain::lots::Lots::encode`.
        pub lots: String,
        /// The first day (`YYYYMMDD`) on which points of `lots` expire: the sweeper's index.
        pub next_expiry: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod transfer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "transfers")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub book: String,
        pub seq: i64,
        pub debit_account_id: Uuid,
        pub credit_account_id: Uuid,
        pub amount: i64,
        pub kind: String,
        pub pending: bool,
        pub timeout_at_us: Option<i64>,
        pub action: String,
        pub pending_id: Option<Uuid>,
        pub expiry: bool,
        pub event_id: String,
        pub order_id: String,
        pub rule_code: String,
        pub rule_version: i64,
        pub reason: String,
        pub created_at_us: i64,
        pub prev_hash: String,
        pub hash: String,
        /// `YYYYMMDD`; `NULL` never.
        pub expires_on: Option<i64>,
        pub refund_of: Option<Uuid>,
        /// `crate::domain::lots::Shares::encode`.
        pub lots: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod resolution {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pending_resolutions")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pending_id: Uuid,
        pub resolution: String,
        pub resolved_by: Uuid,
        pub resolved_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod book_head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "book_heads")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub book: String,
        pub seq: i64,
        pub hash: String,
        /// The book's running figures (`migration::FIGURES_RECOUNTED`).
        pub issued: i64,
        pub redeemed: i64,
        pub refunded: i64,
        pub expired: i64,
        /// Points residents hold: a sum of signed changes, so it is signed too.
        pub outstanding: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod book_resident {
    use sea_orm::entity::prelude::*;

    /// How many resident accounts a book has (`migration::RESIDENT_ACCOUNTS_RECOUNTED`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "book_residents")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub book: String,
        pub accounts: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod expiry_notice {
    use sea_orm::entity::prelude::*;

    /// A resident account told that its points of `day` (`YYYYMMDD`) are about to expire.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "expiry_notices")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
