//! sea-orm entities of the mall tables; times are Unix microseconds.

pub(super) mod merchant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "merchants")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub merchant_id: Uuid,
        pub name: String,
        pub licence_no: String,
        pub contact: String,
        pub status: String,
        pub status_reason: String,
        pub admitted_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod product {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "products")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_id: Uuid,
        pub merchant_id: Uuid,
        pub title: String,
        pub description: String,
        pub category: String,
        pub price_points: i64,
        pub stock: Option<i64>,
        pub per_resident_limit: Option<i32>,
        pub limit_period: String,
        pub available_from_us: Option<i64>,
        pub available_until_us: Option<i64>,
        pub min_age: Option<i32>,
        pub status: String,
        pub updated_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod order {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: Uuid,
        pub idempotency_key: String,
        pub resident_id: Uuid,
        pub merchant_id: Uuid,
        pub product_id: Uuid,
        pub product_title: String,
        pub quantity: i32,
        pub points: i64,
        pub status: String,
        pub voucher_code: String,
        pub expires_at_us: i64,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub resolved_at_us: Option<i64>,
        pub resolve_transfer_id: Option<Uuid>,
        pub written_off_at_us: Option<i64>,
        pub settle_period: Option<String>,
        pub refund_transfer_id: Option<Uuid>,
        pub refund_reason: Option<String>,
        pub refund_source: Option<String>,
        pub refund_period: Option<String>,
        pub refunded_at_us: Option<i64>,
        pub write_off_key: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod statement {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "statements")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub merchant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub period: String,
        pub status: String,
        pub written_off: i32,
        pub refunded: i32,
        pub redeemed_points: i64,
        pub refunded_points: i64,
        pub clawed_back: i32,
        pub clawed_back_points: i64,
        pub transfer_id: Uuid,
        pub closed_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
