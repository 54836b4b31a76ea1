//! Surrogate keys: what the facts and bridges resolve their natural ids through.

use anyhow::Result;

use crate::error::MissingMember;

use super::keymap::KeyMap;
use super::transform::{PaymentKeys, RentalKeys};
use crate::source::{film_actor, film_category, payment, rental};

/// Surrogate keys of every dimension member, by natural id, plus what facts resolve through
/// (inventory copy -> film and store, staff member -> store).
#[derive(Default)]
pub struct Keys {
    pub film: KeyMap<i32>,
    pub actor: KeyMap<i32>,
    pub category: KeyMap<i32>,
    pub customer: KeyMap<i32>,
    pub store: KeyMap<i32>,
    pub staff: KeyMap<i32>,
    /// inventory_id -> (film_id, store_id)
    pub inventory: KeyMap<(u32, u32)>,
    /// staff_id -> store_id
    pub staff_store: KeyMap<u32>,
}

fn missing(what: &'static str, id: u32, fact: &str, fact_id: i64) -> anyhow::Error {
    MissingMember {
        row: format!("{fact} {fact_id}"),
        what,
        id,
        missing: "is not in the source or the warehouse",
    }
    .into()
}

fn missing_member(bridge: &str, what: &'static str, id: u32) -> anyhow::Error {
    MissingMember {
        row: bridge.to_string(),
        what,
        id,
        missing: "does not exist",
    }
    .into()
}

impl Keys {
    /// (film_key, actor_key) of a cast row.
    pub fn film_actor(&self, fa: &film_actor::Model) -> Result<(i32, i32)> {
        Ok((
            self.film
                .get(fa.film_id)
                .ok_or_else(|| missing_member("film_actor", "film", fa.film_id))?,
            self.actor
                .get(fa.actor_id)
                .ok_or_else(|| missing_member("film_actor", "actor", fa.actor_id))?,
        ))
    }

    /// (film_key, category_key) of a film's category row.
    pub fn film_category(&self, fc: &film_category::Model) -> Result<(i32, i32)> {
        Ok((
            self.film
                .get(fc.film_id)
                .ok_or_else(|| missing_member("film_category", "film", fc.film_id))?,
            self.category
                .get(fc.category_id)
                .ok_or_else(|| missing_member("film_category", "category", fc.category_id))?,
        ))
    }

    pub fn rental(&self, r: &rental::Model) -> Result<RentalKeys> {
        let id = r.rental_id as i64;
        let (film_id, store_id) = self
            .inventory
            .get(r.inventory_id)
            .ok_or_else(|| missing("inventory", r.inventory_id, "rental", id))?;
        Ok(RentalKeys {
            film_key: self
                .film
                .get(film_id)
                .ok_or_else(|| missing("film", film_id, "rental", id))?,
            store_key: self
                .store
                .get(store_id)
                .ok_or_else(|| missing("store", store_id, "rental", id))?,
            customer_key: self
                .customer
                .get(r.customer_id)
                .ok_or_else(|| missing("customer", r.customer_id, "rental", id))?,
            staff_key: self
                .staff
                .get(r.staff_id)
                .ok_or_else(|| missing("staff", r.staff_id, "rental", id))?,
        })
    }

    pub fn payment(&self, p: &payment::Model) -> Result<PaymentKeys> {
        let id = p.payment_id as i64;
        let store_id = self
            .staff_store
            .get(p.staff_id)
            .ok_or_else(|| missing("staff", p.staff_id, "payment", id))?;
        Ok(PaymentKeys {
            customer_key: self
                .customer
                .get(p.customer_id)
                .ok_or_else(|| missing("customer", p.customer_id, "payment", id))?,
            store_key: self
                .store
                .get(store_id)
                .ok_or_else(|| missing("store", store_id, "payment", id))?,
            staff_key: self
                .staff
                .get(p.staff_id)
                .ok_or_else(|| missing("staff", p.staff_id, "payment", id))?,
        })
    }
}
