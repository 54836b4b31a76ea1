//! The six dimensions: where each member comes from and how it is made.

use std::collections::HashMap;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use sea_orm::{EntityName, EntityTrait, FromQueryResult, QueryOrder, QuerySelect, Select};

use super::Dim;
use super::Keys;
use super::transform::{
    Place, StaffRow, actor_row, category_row, customer_row, film_row, staff_row, store_row,
};
use crate::error::MissingMember;
use crate::source::{actor, category, customer, film, staff, store};
use crate::star::keymap::KeyMap;
use crate::sync::extract::Geography;
use crate::warehouse::entity::{
    dim_actor, dim_category, dim_customer, dim_film, dim_staff, dim_store,
};

/// The lookup rows members fold in, resolved: a film carries its language's name, a customer
/// and a store their address, city and country. Holds all of them (a full-load, `validate`)
/// or only those some rows need (an incremental run).
#[derive(Default)]
pub struct Refs {
    /// `language_id` -> name.
    pub languages: HashMap<u32, String>,
    pub geo: Geography,
}

impl Refs {
    /// The name of the language `language_id` that film `film_id` refers to.
    pub fn language(&self, film_id: u32, language_id: u32) -> Result<&str> {
        self.languages
            .get(&language_id)
            .map(String::as_str)
            .ok_or_else(|| {
                MissingMember {
                    row: format!("film {film_id}"),
                    what: "language",
                    id: language_id,
                    missing: "does not exist",
                }
                .into()
            })
    }

    /// The resolved place of the address `address_id` that `what` refers to.
    pub fn place(&self, what: impl std::fmt::Display, address_id: u32) -> Result<Place> {
        self.geo
            .place(address_id)
            .map_err(|e| anyhow!("{what}: {e}"))
    }
}

/// A lookup table a member folds in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// `language`: a film carries its language's name.
    Language,
    /// `address` (with its city and country): a customer or a store carries its place.
    Address,
}

/// One dimension of the star.
pub trait Dimension {
    /// The source table.
    type Source: EntityTrait;
    /// A source row as the pipeline reads it (the whole row, or only the columns it needs).
    type Row: FromQueryResult + Send + Sync + 'static;
    /// The warehouse table.
    type Star: Dim;

    /// The rows' query: the columns [`Dimension::Row`] holds, in natural-key order.
    fn select() -> Select<Self::Source>;
    /// The source's natural key column.
    fn id_column() -> <Self::Source as EntityTrait>::Column;
    /// The source's `last_update` column.
    fn last_update_column() -> <Self::Source as EntityTrait>::Column;
    /// The lookup a member folds in, and the source column naming its row; `None` if none.
    /// A change of that lookup row changes the member (a renamed city, its customers).
    fn folds() -> Option<(Lookup, <Self::Source as EntityTrait>::Column)> {
        None
    }
    /// The id of the lookup row a source row folds in (see [`Dimension::folds`]).
    fn folded(_row: &Self::Row) -> Option<u32> {
        None
    }
    /// The natural key of a row.
    fn id(row: &Self::Row) -> u32;
    /// When the source row last changed.
    fn last_update(row: &Self::Row) -> Option<DateTime<Utc>>;
    /// The member a source row becomes, under the surrogate key `key`.
    fn member(key: i32, row: &Self::Row, refs: &Refs)
    -> Result<<Self::Star as EntityTrait>::Model>;
    /// This dimension's surrogate keys among all of them.
    fn keys(keys: &mut Keys) -> &mut KeyMap<i32>;
    /// Records what facts resolve through the row, besides its key (a staff member's store,
    /// which payments are attributed to).
    fn resolves(_keys: &mut Keys, _row: &Self::Row) {}

    /// The source table's name, as `sync_state` and the quiet-table check know it.
    fn source_table() -> &'static str {
        Self::Source::default().table_name()
    }
    /// The warehouse table's name.
    fn star_table() -> &'static str {
        Self::Star::default().table_name()
    }
}

/// Dimensions made of whole source rows.
macro_rules! whole_rows {
    ($name:ident, $src:ident, $star:ident, $id:ident, $Id:ident, $keys:ident, |$key:ident, $row:ident, $refs:ident| $member:expr, $lu:expr) => {
        whole_rows!($name, $src, $star, $id, $Id, $keys, |$key, $row, $refs| $member, $lu, folds:);
    };
    ($name:ident, $src:ident, $star:ident, $id:ident, $Id:ident, $keys:ident, |$key:ident, $row:ident, $refs:ident| $member:expr, $lu:expr, folds: $($fold:ident by $Col:ident . $col:ident)?) => {
        #[doc = concat!("`", stringify!($star), "`, from the source table `", stringify!($src), "`.")]
        pub struct $name;

        impl Dimension for $name {
            type Source = $src::Entity;
            type Row = $src::Model;
            type Star = $star::Entity;

            fn select() -> Select<$src::Entity> {
                $src::Entity::find().order_by_asc($src::Column::$Id)
            }
            fn id_column() -> $src::Column {
                $src::Column::$Id
            }
            fn last_update_column() -> $src::Column {
                $src::Column::LastUpdate
            }
            $(
                fn folds() -> Option<(Lookup, $src::Column)> {
                    Some((Lookup::$fold, $src::Column::$Col))
                }
                fn folded(row: &$src::Model) -> Option<u32> {
                    Some(row.$col)
                }
            )?
            fn id(row: &$src::Model) -> u32 {
                row.$id
            }
            fn last_update(row: &$src::Model) -> Option<DateTime<Utc>> {
                let lu: fn(&$src::Model) -> Option<DateTime<Utc>> = $lu;
                lu(row)
            }
            fn member($key: i32, $row: &$src::Model, $refs: &Refs) -> Result<$star::Model> {
                $member
            }
            fn keys(keys: &mut Keys) -> &mut KeyMap<i32> {
                &mut keys.$keys
            }
        }
    };
}

whole_rows!(
    Film,
    film,
    dim_film,
    film_id,
    FilmId,
    film,
    |key, f, refs| film_row(key, f, refs.language(f.film_id, f.language_id)?),
    |f| Some(f.last_update),
    folds: Language by LanguageId.language_id
);
whole_rows!(
    Actor,
    actor,
    dim_actor,
    actor_id,
    ActorId,
    actor,
    |key, a, _refs| actor_row(key, a),
    |a| Some(a.last_update)
);
whole_rows!(
    Category,
    category,
    dim_category,
    category_id,
    CategoryId,
    category,
    |key, c, _refs| category_row(key, c),
    |c| Some(c.last_update)
);
whole_rows!(
    Customer,
    customer,
    dim_customer,
    customer_id,
    CustomerId,
    customer,
    |key, c, refs| {
        let place = refs.place(format_args!("customer {}", c.customer_id), c.address_id)?;
        customer_row(key, c, &place)
    },
    |c| c.last_update,
    folds: Address by AddressId.address_id
);
whole_rows!(
    Store,
    store,
    dim_store,
    store_id,
    StoreId,
    store,
    |key, s, refs| {
        let place = refs.place(format_args!("store {}", s.store_id), s.address_id)?;
        store_row(key, s, &place)
    },
    |s| Some(s.last_update),
    folds: Address by AddressId.address_id
);

/// `dim_staff`, from the source table `staff` without its `picture` and `password`.
pub struct Staff;

impl Dimension for Staff {
    type Source = staff::Entity;
    type Row = StaffRow;
    type Star = dim_staff::Entity;

    fn select() -> Select<staff::Entity> {
        use sea_orm::PartialModelTrait;
        let select = staff::Entity::find().select_only();
        StaffRow::select_cols(select).order_by_asc(staff::Column::StaffId)
    }
    fn id_column() -> staff::Column {
        staff::Column::StaffId
    }
    fn last_update_column() -> staff::Column {
        staff::Column::LastUpdate
    }
    fn id(row: &StaffRow) -> u32 {
        row.staff_id
    }
    fn last_update(row: &StaffRow) -> Option<DateTime<Utc>> {
        Some(row.last_update)
    }
    fn member(key: i32, row: &StaffRow, _refs: &Refs) -> Result<dim_staff::Model> {
        staff_row(key, row)
    }
    fn keys(keys: &mut Keys) -> &mut KeyMap<i32> {
        &mut keys.staff
    }
    fn resolves(keys: &mut Keys, row: &StaffRow) {
        keys.staff_store.insert(row.staff_id, row.store_id);
    }
}
