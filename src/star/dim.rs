//! The warehouse side of a dimension: the columns every dimension table has (natural id,
//! surrogate key, soft-delete flag, the source version it was made from), so that one routine
//! can read, upsert and soft-delete the members of all six.

use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};

use crate::warehouse::entity::{
    dim_actor, dim_category, dim_customer, dim_film, dim_staff, dim_store,
};

/// A dimension entity. The bounds on its model are stated once here (associated type bounds
/// are implied wherever `D: Dim` is), not at every function over dimensions.
pub trait Dim:
    EntityTrait<
        Model: Clone + PartialEq + IntoActiveModel<Self::ActiveModel> + Send,
        ActiveModel: ActiveModelTrait<Entity = Self> + Send,
    >
{
    fn natural_col() -> Self::Column;
    fn key_col() -> Self::Column;
    fn deleted_col() -> Self::Column;
    /// The source row's `last_update` the member was made from.
    fn last_update_col() -> Self::Column;
    fn natural(m: &Self::Model) -> i32;
    fn key(m: &Self::Model) -> i32;
    fn is_deleted(m: &Self::Model) -> bool;
    fn set_key(m: &mut Self::Model, key: i32);
}

macro_rules! dim {
    ($m:ident, $nat:ident, $key:ident, $Nat:ident, $Key:ident) => {
        impl Dim for $m::Entity {
            fn natural_col() -> $m::Column {
                $m::Column::$Nat
            }
            fn key_col() -> $m::Column {
                $m::Column::$Key
            }
            fn deleted_col() -> $m::Column {
                $m::Column::IsDeleted
            }
            fn last_update_col() -> $m::Column {
                $m::Column::LastUpdate
            }
            fn natural(m: &$m::Model) -> i32 {
                m.$nat
            }
            fn key(m: &$m::Model) -> i32 {
                m.$key
            }
            fn is_deleted(m: &$m::Model) -> bool {
                m.is_deleted
            }
            fn set_key(m: &mut $m::Model, key: i32) {
                m.$key = key;
            }
        }
    };
}

dim!(dim_film, film_id, film_key, FilmId, FilmKey);
dim!(dim_actor, actor_id, actor_key, ActorId, ActorKey);
dim!(
    dim_category,
    category_id,
    category_key,
    CategoryId,
    CategoryKey
);
dim!(
    dim_customer,
    customer_id,
    customer_key,
    CustomerId,
    CustomerKey
);
dim!(dim_store, store_id, store_key, StoreId, StoreKey);
dim!(dim_staff, staff_id, staff_key, StaffId, StaffKey);
