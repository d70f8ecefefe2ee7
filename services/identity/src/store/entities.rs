//! sea-orm entities of the identity database. Times are UTC; calendar dates are `YYYY-MM-DD`
//! text so they sort and compare the same on SQLite and PostgreSQL.

pub(super) mod district {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "districts")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub enrolled: bool,
        pub enrolled_since: Option<DateTimeUtc>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod resident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "residents")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub id_number_enc: Vec<u8>,
        #[sea_orm(unique)]
        pub id_number_hash: String,
        pub id_number_masked: String,
        pub phone_enc: Vec<u8>,
        #[sea_orm(unique)]
        pub phone_hash: String,
        pub phone_masked: String,
        pub birth_date: String,
        pub password_hash: String,
        pub residence_district: String,
        pub residence_type: String,
        pub status: String,
        pub status_reason: Option<String>,
        pub fd_institution_code: Option<String>,
        pub fd_institution_name: Option<String>,
        pub fd_district: Option<String>,
        pub fd_signed_on: Option<String>,
        pub fd_valid_until: Option<String>,
        pub failed_logins: i32,
        pub locked_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// When the resident closed the account.
        pub closed_at: Option<DateTimeUtc>,
        /// When its personal data was erased (after the retention period).
        pub erased_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod staff {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub username: String,
        pub password_hash: String,
        pub role: String,
        pub district: Option<String>,
        pub merchant_id: Option<Uuid>,
        pub mall: Option<String>,
        pub failed_logins: i32,
        pub locked_until: Option<DateTimeUtc>,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub institution_code: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod client {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "clients")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub secret_hash: String,
        /// After a rotation: the replaced secret's hash, accepted until `previous_secret_valid_until`.
        pub previous_secret_hash: Option<String>,
        pub previous_secret_valid_until: Option<DateTimeUtc>,
        pub kind: String,
        pub name: String,
        pub partner_id: Option<String>,
        pub department: Option<String>,
        /// JSON array of scope names.
        pub scopes: String,
        pub service: Option<String>,
        pub district: Option<String>,
        pub merchant_id: Option<Uuid>,
        pub mall: Option<String>,
        pub disabled: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod signing_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub private_key_enc: Vec<u8>,
        pub public_key: Vec<u8>,
        pub created_at: DateTimeUtc,
        pub retired_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub family_id: Uuid,
        /// `resident` or `staff`.
        pub owner_kind: String,
        pub owner_id: Uuid,
        pub issued_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
