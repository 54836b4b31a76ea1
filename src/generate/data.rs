//! Pure row generators for `generate`: no I/O, every row a function of the seed and the scale.
//!
//! Small tables are returned whole; the tables that grow with the scale are iterators, so the
//! writer can insert them in batches with bounded memory. Each table draws from its own random
//! stream ([`Rng::stream`]), so the rows of one table never depend on how many numbers another
//! table drew.
//!
//! The shape mirrors the real Sakila at scale 1: 109 countries, 600 cities, 6 languages, 16
//! categories, 200 actors, 1000 films with 1 to 10 actors (5.5 on average) and one category
//! each, then per unit of scale 2 stores, 2 staff, 599 customers, 4581 inventory copies and
//! about 16,000 rentals (2005-05-24 .. 2006-02-14) with one payment per returned rental.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};
use rust_decimal::Decimal;

use super::rng::Rng;
use super::words;
use crate::source::{
    actor, address, category, city, country, customer, film, film_actor, film_category, film_text,
    inventory, language, payment, rental, staff, store,
};

pub const COUNTRIES: u32 = 109;
pub const CITIES: u32 = 600;
pub const LANGUAGES: u32 = 6;
pub const CATEGORIES: u32 = 16;
pub const ACTORS: u32 = 200;
pub const FILMS: u32 = 1000;

/// Per unit of scale.
pub const STORES_PER_SCALE: u32 = 2;
pub const CUSTOMERS_PER_SCALE: u32 = 599;
pub const INVENTORY_PER_SCALE: u32 = 4581;
/// Rentals aimed at per unit of scale (a few are dropped when no copy is free).
pub const RENTALS_PER_SCALE: u32 = 16_044;
/// Payments without a rental per unit of scale.
pub const LOOSE_PAYMENTS_PER_SCALE: u32 = 5;

/// Share of rentals never returned (lost copies), on top of those still out at the end.
const LOST_SHARE: f64 = 0.003;
/// Share of customers that are inactive.
const INACTIVE_SHARE: f64 = 0.025;
/// Late fee per day past the film's rental duration, in cents.
const LATE_FEE_CENTS: i64 = 100;
/// The largest payment (4.99 + 7 late days).
const MAX_AMOUNT_CENTS: i64 = 1199;

/// How many rows of each scaled table a scale has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub scale: u32,
    pub stores: u32,
    pub staff: u32,
    pub customers: u32,
    /// One per store, staff member and customer.
    pub addresses: u32,
    pub inventory: u32,
    pub rentals_target: u32,
    pub loose_payments: u32,
}

impl Sizes {
    pub fn at(scale: u32) -> Self {
        let stores = STORES_PER_SCALE * scale;
        let customers = CUSTOMERS_PER_SCALE * scale;
        Sizes {
            scale,
            stores,
            staff: stores,
            customers,
            addresses: stores * 2 + customers,
            inventory: INVENTORY_PER_SCALE * scale,
            rentals_target: RENTALS_PER_SCALE * scale,
            loose_payments: LOOSE_PAYMENTS_PER_SCALE * scale,
        }
    }

    /// Store `s` sits at address `s`, staff member `s` lives at `stores + s`, customer `c` at
    /// `2 * stores + c`.
    pub fn staff_address(&self, staff_id: u32) -> u32 {
        self.stores + staff_id
    }
    pub fn customer_address(&self, customer_id: u32) -> u32 {
        self.stores * 2 + customer_id
    }
}

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

/// When the generated shop traded: rentals on the days `first..=last`. The catalogue, the
/// places, the shops and the stock were keyed the morning after (their `last_update`), as in a
/// freshly restored Sakila, and customers signed up in the 99 days before the first rental.
///
/// The real Sakila's history ([`History::sakila`], the default) is nine months of 2005-06,
/// inside the warehouse's default calendar. [`History::years`] gives any other span, so tests
/// and benchmarks can cover dates before 2000 and after 2030.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct History {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Default for History {
    fn default() -> Self {
        History::sakila()
    }
}

impl History {
    /// 2005-05-24 ..= 2006-02-14, the real Sakila's.
    pub const SAKILA: History = History {
        first: NaiveDate::from_ymd_opt(2005, 5, 24).expect("a date"),
        last: NaiveDate::from_ymd_opt(2006, 2, 14).expect("a date"),
    };

    pub fn sakila() -> History {
        History::SAKILA
    }

    /// `years` whole years from `first` (the last day is the day before `first` plus `years`
    /// years); `None` when that is not a date or `years` is 0.
    pub fn years(first: NaiveDate, years: u32) -> Option<History> {
        let next = first.checked_add_months(chrono::Months::new(years.checked_mul(12)?))?;
        (years > 0).then_some(History {
            first,
            last: next.pred_opt()?,
        })
    }

    /// The moment the history stops: nothing is returned after it.
    pub fn end(&self) -> NaiveDateTime {
        (self.last + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
    }

    /// The earliest and latest times the generated rows hold: the first sign-up and the
    /// last morning-after stamp (an inactive customer's, before 7:00).
    pub fn span(&self) -> (NaiveDateTime, NaiveDateTime) {
        (self.signups_from(), self.end() + Duration::hours(7))
    }

    fn signups_from(&self) -> NaiveDateTime {
        self.first.and_hms_opt(0, 0, 0).expect("midnight") - Duration::days(99)
    }

    fn morning_after(&self, h: i64, m: i64, s: i64) -> DateTime<Utc> {
        utc(self.end() + Duration::seconds(h * 3600 + m * 60 + s))
    }
    fn catalogue_update(&self) -> DateTime<Utc> {
        self.morning_after(4, 34, 33)
    }
    fn places_update(&self) -> DateTime<Utc> {
        self.morning_after(4, 45, 30)
    }
    fn shop_update(&self) -> DateTime<Utc> {
        self.morning_after(4, 57, 12)
    }
    fn stock_update(&self) -> DateTime<Utc> {
        self.morning_after(5, 9, 17)
    }
}

pub fn countries(seed: u64, h: &History) -> Vec<country::Model> {
    let mut names = words::COUNTRIES.to_vec();
    // Sorted like the real table, so ids follow the alphabet; the seed only varies the times.
    names.sort_unstable();
    let mut rng = Rng::stream(seed, "country");
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| country::Model {
            country_id: i as u32 + 1,
            country: name.to_string(),
            last_update: h.catalogue_update() + Duration::seconds(rng.range(0, 59)),
        })
        .collect()
}

pub fn cities(seed: u64, h: &History) -> Vec<city::Model> {
    let mut rng = Rng::stream(seed, "city");
    let mut names: Vec<String> = words::CITY_PREFIXES
        .iter()
        .flat_map(|p| words::CITY_SUFFIXES.iter().map(move |s| format!("{p}{s}")))
        .collect();
    rng.shuffle(&mut names);
    names.truncate(CITIES as usize);
    names.sort_unstable();
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| city::Model {
            city_id: i as u32 + 1,
            city: name,
            country_id: rng.range(1, COUNTRIES as i64) as u32,
            last_update: h.catalogue_update() + Duration::seconds(rng.range(60, 119)),
        })
        .collect()
}

pub fn languages(h: &History) -> Vec<language::Model> {
    words::LANGUAGES
        .iter()
        .enumerate()
        .map(|(i, name)| language::Model {
            language_id: i as u32 + 1,
            name: name.to_string(),
            last_update: h.catalogue_update() + Duration::seconds(120),
        })
        .collect()
}

pub fn categories(h: &History) -> Vec<category::Model> {
    words::CATEGORIES
        .iter()
        .enumerate()
        .map(|(i, name)| category::Model {
            category_id: i as u32 + 1,
            name: name.to_string(),
            last_update: h.catalogue_update() + Duration::seconds(121),
        })
        .collect()
}

fn person(rng: &mut Rng) -> (String, String) {
    (
        rng.pick(&words::FIRST_NAMES).to_string(),
        rng.pick(&words::LAST_NAMES).to_string(),
    )
}

pub fn actors(seed: u64, h: &History) -> Vec<actor::Model> {
    let mut rng = Rng::stream(seed, "actor");
    (1..=ACTORS)
        .map(|actor_id| {
            let (first_name, last_name) = person(&mut rng);
            actor::Model {
                actor_id,
                first_name,
                last_name,
                last_update: h.catalogue_update() + Duration::seconds(rng.range(130, 190)),
            }
        })
        .collect()
}

/// A `special_features` SET value: a non-empty subset, members in declaration order.
pub fn special_features(rng: &mut Rng) -> String {
    let mask = rng.range(1, 15);
    words::SPECIAL_FEATURES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, f)| *f)
        .collect::<Vec<_>>()
        .join(",")
}

/// One film's catalogue data (title and id are the caller's).
pub fn film(rng: &mut Rng, film_id: u32, title: String, last_update: DateTime<Utc>) -> film::Model {
    let description = format!(
        "A {} {} of a {} And a {} who must {} a {} in {}",
        rng.pick(&words::DESCRIPTION_ADJECTIVES),
        rng.pick(&words::DESCRIPTION_KINDS),
        rng.pick(&words::DESCRIPTION_PEOPLE),
        rng.pick(&words::DESCRIPTION_PEOPLE),
        rng.pick(&words::DESCRIPTION_VERBS),
        rng.pick(&words::DESCRIPTION_PEOPLE),
        rng.pick(&words::DESCRIPTION_PLACES),
    );
    film::Model {
        film_id,
        title,
        description: Some(description),
        release_year: Some(2006),
        language_id: 1,
        original_language_id: None,
        rental_duration: rng.range(3, 7) as u32,
        rental_rate: Decimal::new(*rng.pick(&[99, 299, 499]), 2),
        length: Some(rng.range(46, 185) as u32),
        replacement_cost: Decimal::new(rng.range(9, 29) * 100 + 99, 2),
        rating: Some(rng.pick(&words::RATINGS).to_string()),
        special_features: Some(special_features(rng)),
        last_update,
    }
}

pub fn films(seed: u64, h: &History) -> Vec<film::Model> {
    let mut rng = Rng::stream(seed, "film");
    let mut titles: Vec<String> = words::TITLE_FIRST
        .iter()
        .flat_map(|a| words::TITLE_SECOND.iter().map(move |b| format!("{a} {b}")))
        .collect();
    rng.shuffle(&mut titles);
    titles.truncate(FILMS as usize);
    // Film ids follow the alphabet of titles, as in the real catalogue.
    titles.sort_unstable();
    titles
        .into_iter()
        .enumerate()
        .map(|(i, title)| {
            film(
                &mut rng,
                i as u32 + 1,
                title,
                h.catalogue_update() + Duration::seconds(300),
            )
        })
        .collect()
}

/// `film_text` as MySQL's triggers keep it: the film's id, title and description.
pub fn film_text_of(f: &film::Model) -> film_text::Model {
    film_text::Model {
        film_id: f.film_id as i32,
        title: f.title.clone(),
        description: f.description.clone(),
    }
}

/// 1 to 10 distinct actors per film (5.5 on average), in primary-key order per film.
pub fn film_actors(seed: u64, h: &History) -> Vec<film_actor::Model> {
    let mut rng = Rng::stream(seed, "film_actor");
    let mut rows = Vec::new();
    for film_id in 1..=FILMS {
        let n = rng.range(1, 10) as u32;
        let mut cast = cast(&mut rng, ACTORS, n);
        cast.sort_unstable();
        rows.extend(cast.into_iter().map(|actor_id| film_actor::Model {
            actor_id,
            film_id,
            last_update: h.catalogue_update() + Duration::seconds(400),
        }));
    }
    rows
}

/// `n` distinct actor ids out of `1..=actors`.
pub fn cast(rng: &mut Rng, actors: u32, n: u32) -> Vec<u32> {
    let mut chosen: Vec<u32> = Vec::with_capacity(n as usize);
    while (chosen.len() as u32) < n.min(actors) {
        let a = rng.range(1, actors as i64) as u32;
        if !chosen.contains(&a) {
            chosen.push(a);
        }
    }
    chosen
}

pub fn film_categories(seed: u64, h: &History) -> Vec<film_category::Model> {
    let mut rng = Rng::stream(seed, "film_category");
    (1..=FILMS)
        .map(|film_id| film_category::Model {
            film_id,
            category_id: rng.range(1, CATEGORIES as i64) as u32,
            last_update: h.catalogue_update() + Duration::seconds(500),
        })
        .collect()
}

/// A plausible street address in a random city.
pub fn address(rng: &mut Rng, address_id: u32, last_update: DateTime<Utc>) -> address::Model {
    address::Model {
        address_id,
        address: format!(
            "{} {} {}",
            rng.range(1, 1999),
            rng.pick(&words::STREETS),
            rng.pick(&words::STREET_KINDS)
        ),
        address2: None,
        district: rng.pick(&words::DISTRICTS).to_string(),
        city_id: rng.range(1, CITIES as i64) as u32,
        postal_code: if rng.chance(0.01) {
            None
        } else {
            Some(format!("{:05}", rng.range(1000, 99_999)))
        },
        phone: format!("{:012}", rng.range(10_000_000_000, 999_999_999_999)),
        last_update,
    }
}

pub fn addresses(seed: u64, sizes: Sizes, h: &History) -> impl Iterator<Item = address::Model> {
    let stamp = h.places_update();
    let mut rng = Rng::stream(seed, "address");
    (1..=sizes.addresses).map(move |id| address(&mut rng, id, stamp))
}

/// Store `s` is managed by staff member `s` and sits at address `s`.
pub fn stores(sizes: Sizes, h: &History) -> Vec<store::Model> {
    (1..=sizes.stores)
        .map(|store_id| store::Model {
            store_id,
            manager_staff_id: store_id,
            address_id: store_id,
            last_update: h.shop_update(),
        })
        .collect()
}

/// Staff member `s` works at store `s`.
pub fn staff(seed: u64, sizes: Sizes, h: &History) -> Vec<staff::Model> {
    let mut rng = Rng::stream(seed, "staff");
    (1..=sizes.staff)
        .map(|staff_id| {
            let (first, last) = person(&mut rng);
            let first_name = capitalised(&first);
            let last_name = capitalised(&last);
            staff::Model {
                staff_id,
                email: Some(format!("{first_name}.{last_name}@sakilastaff.com")),
                username: first_name.clone(),
                first_name,
                last_name,
                address_id: sizes.staff_address(staff_id),
                picture: None,
                store_id: staff_id,
                active: true,
                // A SHA-1 in hex, as the real table keeps.
                password: Some(format!(
                    "{:016x}{:016x}{:08x}",
                    rng.next_u64(),
                    rng.next_u64(),
                    rng.next_u64() as u32
                )),
                last_update: h.shop_update() + Duration::seconds(staff_id as i64),
            }
        })
        .collect()
}

fn capitalised(upper: &str) -> String {
    let mut c = upper.chars();
    match c.next() {
        Some(f) => f.to_string() + &c.as_str().to_lowercase(),
        None => String::new(),
    }
}

/// A new customer (from `generate`, or a sign-up in `simulate`).
pub fn customer(
    rng: &mut Rng,
    customer_id: u32,
    store_id: u32,
    address_id: u32,
    create_date: NaiveDateTime,
) -> customer::Model {
    let (first_name, last_name) = person(rng);
    customer::Model {
        customer_id,
        store_id,
        email: Some(format!("{first_name}.{last_name}@sakilacustomer.org")),
        first_name,
        last_name,
        address_id,
        active: true,
        create_date,
        last_update: Some(utc(create_date)),
    }
}

/// Customers signed up between 2005-02-14 and the first rental; a few are inactive (their
/// `last_update` is when they were deactivated, after the history).
pub fn customers(seed: u64, sizes: Sizes, h: &History) -> impl Iterator<Item = customer::Model> {
    let deactivated = h.shop_update();
    let mut rng = Rng::stream(seed, "customer");
    let from = h.signups_from();
    let span = (h.first.and_hms_opt(0, 0, 0).expect("valid") - from).num_seconds();
    (1..=sizes.customers).map(move |id| {
        let create = from + Duration::seconds(rng.range(0, span - 1));
        let store = rng.range(1, sizes.stores as i64) as u32;
        let mut c = customer(&mut rng, id, store, sizes.customer_address(id), create);
        if rng.chance(INACTIVE_SHARE) {
            c.active = false;
            c.last_update = Some(deactivated + Duration::seconds(rng.range(0, 3600)));
        }
        c
    })
}

/// Where every inventory copy is: `layout[inventory_id - 1] = (film_id, store_id)`. Each store
/// stocks 2 to 4 copies of a random selection of films, 2290 or 2291 copies per store (4581
/// per pair of stores), ordered by store and film.
pub fn inventory_layout(seed: u64, sizes: Sizes) -> Vec<(u32, u32)> {
    let mut rng = Rng::stream(seed, "inventory");
    let mut layout = Vec::with_capacity(sizes.inventory as usize);
    let mut films: Vec<u32> = (1..=FILMS).collect();
    for store_id in 1..=sizes.stores {
        let mut left = if store_id % 2 == 1 {
            INVENTORY_PER_SCALE.div_ceil(2)
        } else {
            INVENTORY_PER_SCALE / 2
        };
        rng.shuffle(&mut films);
        let mut copies = vec![0u32; FILMS as usize + 1];
        for &f in &films {
            if left == 0 {
                break;
            }
            let n = (rng.range(2, 4) as u32).min(left);
            copies[f as usize] = n;
            left -= n;
        }
        for film_id in 1..=FILMS {
            for _ in 0..copies[film_id as usize] {
                layout.push((film_id, store_id));
            }
        }
    }
    layout
}

pub fn inventory<'a>(
    layout: &'a [(u32, u32)],
    h: &History,
) -> impl Iterator<Item = inventory::Model> + 'a {
    let stamp = h.stock_update();
    layout
        .iter()
        .enumerate()
        .map(move |(i, &(film_id, store_id))| inventory::Model {
            inventory_id: i as u32 + 1,
            film_id,
            store_id,
            last_update: stamp,
        })
}

/// What a rental costs: the film's rate plus a late fee per day kept past its rental duration,
/// capped at 11.99.
pub fn amount(rate_cents: i64, rental_duration: u32, days_kept: i64) -> Decimal {
    let late = (days_kept - rental_duration as i64).max(0);
    Decimal::new(
        (rate_cents + late * LATE_FEE_CENTS).min(MAX_AMOUNT_CENTS),
        2,
    )
}

/// Relative business of a day: summer is busy, weekends busier.
fn day_weight(day: NaiveDate) -> f64 {
    let month = match day.month() {
        5..=6 => 3.0,
        7 => 4.0,
        8 => 3.5,
        2 => 1.2,
        _ => 1.0,
    };
    let week = match day.weekday() {
        Weekday::Fri | Weekday::Sat => 1.3,
        Weekday::Sun => 1.1,
        _ => 1.0,
    };
    month * week
}

/// Rentals per day of the history, adding up to `total` exactly.
pub fn rentals_per_day(rng: &mut Rng, total: u32, h: &History) -> Vec<(NaiveDate, u32)> {
    let days: Vec<NaiveDate> = h.first.iter_days().take_while(|d| *d <= h.last).collect();
    let weights: Vec<f64> = days
        .iter()
        .map(|d| day_weight(*d) * (0.8 + 0.4 * rng.unit()))
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(days.len());
    let mut carried = 0.0;
    let mut given = 0u32;
    for (i, (d, w)) in days.iter().zip(&weights).enumerate() {
        let n = if i + 1 == days.len() {
            total - given
        } else {
            carried += total as f64 * w / sum;
            let n = carried.floor() as u32;
            carried -= n as f64;
            n.min(total - given)
        };
        given += n;
        out.push((*d, n));
    }
    out
}

/// Rentals and payments of one day, in id order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Day {
    pub rentals: Vec<rental::Model>,
    pub payments: Vec<payment::Model>,
}

/// Everything the fact generator needs to know about the dimensions.
pub struct Facts {
    rng: Rng,
    days: std::vec::IntoIter<(NaiveDate, u32)>,
    /// Loose payments (without a rental) per day index.
    loose: Vec<u32>,
    day_index: usize,
    /// inventory_id - 1 -> (film_id, store_id)
    layout: Vec<(u32, u32)>,
    /// film_id -> (rate in cents, rental duration); index 0 unused.
    films: Vec<(i64, u32)>,
    /// store_id -> its staff; index 0 unused.
    staff_of_store: Vec<Vec<u32>>,
    staff: u32,
    customers: u32,
    /// inventory_id - 1 -> when the copy is back on the shelf (seconds since the epoch).
    busy_until: Vec<i64>,
    next_rental: i32,
    next_payment: u32,
    /// Rentals skipped because no copy was free after a few tries.
    pub skipped: u32,
    /// [`History::end`]: nothing is returned after it.
    end: NaiveDateTime,
}

impl Facts {
    pub fn new(
        seed: u64,
        sizes: Sizes,
        layout: Vec<(u32, u32)>,
        films: &[film::Model],
        staff: &[staff::Model],
        h: &History,
    ) -> Self {
        let mut rng = Rng::stream(seed, "rental");
        let days = rentals_per_day(&mut rng, sizes.rentals_target, h);
        let mut loose = vec![0u32; days.len()];
        for _ in 0..sizes.loose_payments {
            loose[rng.below(days.len() as u64) as usize] += 1;
        }
        let mut film_terms = vec![(0i64, 0u32); films.len() + 1];
        for f in films {
            // Generated rates are a few dollars: always whole cents.
            let cents = crate::star::transform::cents(f.rental_rate).unwrap_or_default();
            film_terms[f.film_id as usize] = (cents, f.rental_duration);
        }
        let mut staff_of_store = vec![Vec::new(); sizes.stores as usize + 1];
        for s in staff {
            staff_of_store[s.store_id as usize].push(s.staff_id);
        }
        let n = layout.len();
        Facts {
            rng,
            days: days.into_iter(),
            loose,
            day_index: 0,
            layout,
            films: film_terms,
            staff_of_store,
            staff: sizes.staff,
            customers: sizes.customers,
            busy_until: vec![i64::MIN; n],
            next_rental: 1,
            next_payment: 1,
            skipped: 0,
            end: h.end(),
        }
    }

    /// A free copy at `t`, after at most a few random tries.
    fn free_copy(&mut self, t: i64) -> Option<usize> {
        for _ in 0..12 {
            let i = self.rng.below(self.layout.len() as u64) as usize;
            if self.busy_until[i] <= t {
                return Some(i);
            }
        }
        None
    }

    fn day(&mut self, day: NaiveDate, n: u32) -> Day {
        let midnight = day.and_hms_opt(0, 0, 0).expect("valid");
        let end = self.end;
        let mut times: Vec<i64> = (0..n).map(|_| self.rng.range(0, 86_399)).collect();
        times.sort_unstable();
        let mut out = Day::default();
        for secs in times {
            let rented = midnight + Duration::seconds(secs);
            let t = rented.and_utc().timestamp();
            let Some(copy) = self.free_copy(t) else {
                self.skipped += 1;
                continue;
            };
            let (film_id, store_id) = self.layout[copy];
            let customer_id = self.rng.range(1, self.customers as i64) as u32;
            let staff_id = *self.rng.pick(&self.staff_of_store[store_id as usize]);
            // Kept from an hour to 10 days and 23 hours; some copies never come back.
            let kept = self.rng.range(3600, 10 * 86_400 + 23 * 3600);
            let lost = self.rng.chance(LOST_SHARE);
            let returned = Some(rented + Duration::seconds(kept)).filter(|r| !lost && *r < end);
            self.busy_until[copy] = returned.map_or(i64::MAX, |r| r.and_utc().timestamp());
            let rental_id = self.next_rental;
            self.next_rental += 1;
            out.rentals.push(rental::Model {
                rental_id,
                rental_date: rented,
                inventory_id: copy as u32 + 1,
                customer_id,
                return_date: returned,
                staff_id,
                // Inserted when rented, updated when returned.
                last_update: utc(returned.unwrap_or(rented)),
            });
            if let Some(back) = returned {
                let (rate, duration) = self.films[film_id as usize];
                out.payments.push(payment::Model {
                    payment_id: self.next_payment,
                    customer_id,
                    staff_id,
                    rental_id: Some(rental_id),
                    amount: amount(rate, duration, kept / 86_400),
                    // Dated at the rental, as in Sakila; recorded (with any late fee) on return.
                    payment_date: rented,
                    last_update: Some(utc(back)),
                });
                self.next_payment += 1;
            }
        }
        for _ in 0..self.loose[self.day_index] {
            let paid = midnight + Duration::seconds(self.rng.range(0, 86_399));
            out.payments.push(payment::Model {
                payment_id: self.next_payment,
                customer_id: self.rng.range(1, self.customers as i64) as u32,
                staff_id: self.rng.range(1, self.staff as i64) as u32,
                rental_id: None,
                amount: Decimal::new(*self.rng.pick(&[99, 199, 299, 499, 599, 999, 1199]), 2),
                payment_date: paid,
                last_update: Some(utc(paid)),
            });
            self.next_payment += 1;
        }
        out
    }
}

impl Iterator for Facts {
    type Item = Day;

    fn next(&mut self) -> Option<Day> {
        let (day, n) = self.days.next()?;
        let out = self.day(day, n);
        self.day_index += 1;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    const H: History = History::SAKILA;

    #[test]
    fn fixed_tables_have_the_sakila_cardinalities() {
        assert_eq!(countries(1, &H).len(), 109);
        assert_eq!(cities(1, &H).len(), 600);
        assert_eq!(languages(&H).len(), 6);
        assert_eq!(categories(&H).len(), 16);
        assert_eq!(actors(1, &H).len(), 200);
        assert_eq!(films(1, &H).len(), 1000);
        assert_eq!(film_categories(1, &H).len(), 1000);
        let fa = film_actors(1, &H);
        assert!((5000..6000).contains(&fa.len()), "{}", fa.len());
        let pairs: HashSet<_> = fa.iter().map(|r| (r.actor_id, r.film_id)).collect();
        assert_eq!(pairs.len(), fa.len(), "film_actor pairs are unique");
        let films_with_cast: HashSet<_> = fa.iter().map(|r| r.film_id).collect();
        assert_eq!(films_with_cast.len(), 1000);
    }

    #[test]
    fn scaled_tables_multiply() {
        for scale in [1, 2, 3] {
            let s = Sizes::at(scale);
            assert_eq!(addresses(9, s, &H).count() as u32, 603 * scale);
            assert_eq!(customers(9, s, &H).count() as u32, 599 * scale);
            assert_eq!(stores(s, &H).len() as u32, 2 * scale);
            assert_eq!(staff(9, s, &H).len() as u32, 2 * scale);
            let layout = inventory_layout(9, s);
            assert_eq!(layout.len() as u32, 4581 * scale);
            assert!(
                layout
                    .windows(2)
                    .all(|w| w[0].1 < w[1].1 || (w[0].1 == w[1].1 && w[0].0 <= w[1].0))
            );
        }
    }

    #[test]
    fn titles_are_unique_and_alphabetical() {
        let f = films(3, &H);
        assert!(f.windows(2).all(|w| w[0].title < w[1].title));
        for film in &f {
            assert!(words::RATINGS.contains(&film.rating.as_deref().unwrap()));
            let feats = film.special_features.as_deref().unwrap();
            assert!(!feats.is_empty());
            assert!(
                feats
                    .split(',')
                    .all(|x| words::SPECIAL_FEATURES.contains(&x))
            );
            assert!(film.title.len() <= 128);
            assert!((3..=7).contains(&film.rental_duration));
        }
    }

    #[test]
    fn generators_are_deterministic() {
        assert_eq!(films(5, &H), films(5, &H));
        assert_ne!(films(5, &H), films(6, &H));
        let s = Sizes::at(1);
        assert!(customers(5, s, &H).eq(customers(5, s, &H)));
        assert_eq!(inventory_layout(5, s), inventory_layout(5, s));
    }

    #[test]
    fn amounts_cover_099_to_1199() {
        assert_eq!(amount(99, 3, 0), Decimal::new(99, 2));
        assert_eq!(amount(299, 5, 5), Decimal::new(299, 2));
        assert_eq!(amount(299, 5, 7), Decimal::new(499, 2));
        assert_eq!(amount(499, 3, 10), Decimal::new(1199, 2));
        assert_eq!(amount(499, 3, 30), Decimal::new(1199, 2));
    }

    #[test]
    fn histories_of_whole_years_end_the_day_before_the_anniversary() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let h = History::years(d(1995, 1, 1), 30).unwrap();
        assert_eq!((h.first, h.last), (d(1995, 1, 1), d(2024, 12, 31)));
        assert_eq!(h.end(), d(2025, 1, 1).and_hms_opt(0, 0, 0).unwrap());
        let leap = History::years(d(2004, 2, 29), 1).unwrap();
        assert_eq!(leap.last, d(2005, 2, 27));
        assert_eq!(History::years(d(1995, 1, 1), 0), None);
        assert_eq!(History::years(d(1995, 1, 1), u32::MAX), None);
        // The span covers the first sign-up (99 days before) and the morning-after stamps.
        let (lo, hi) = H.span();
        assert_eq!(lo, d(2005, 2, 14).and_hms_opt(0, 0, 0).unwrap());
        assert!(hi > H.end() + Duration::hours(5));
        // A long history spreads the same rentals over every year of it.
        let mut rng = Rng::new(1);
        let days = rentals_per_day(&mut rng, 16_044, &h);
        assert_eq!(days.len(), 10_958);
        assert_eq!(days.iter().map(|d| d.1).sum::<u32>(), 16_044);
    }

    #[test]
    fn per_day_counts_add_up() {
        let mut rng = Rng::new(4);
        let h = History::sakila();
        let days = rentals_per_day(&mut rng, 16_044, &h);
        assert_eq!(days.iter().map(|d| d.1).sum::<u32>(), 16_044);
        assert_eq!(days.first().unwrap().0, h.first);
        assert_eq!(days.last().unwrap().0, h.last);
        let july = days
            .iter()
            .find(|d| d.0 == NaiveDate::from_ymd_opt(2005, 7, 13).unwrap())
            .unwrap()
            .1;
        let nov = days
            .iter()
            .find(|d| d.0 == NaiveDate::from_ymd_opt(2005, 11, 16).unwrap())
            .unwrap()
            .1;
        assert!(july > nov, "{july} vs {nov}");
    }

    fn facts(seed: u64, scale: u32) -> (Vec<rental::Model>, Vec<payment::Model>, Sizes) {
        let s = Sizes::at(scale);
        let h = History::sakila();
        let films = films(seed, &h);
        let staff = staff(seed, s, &h);
        let mut rentals = Vec::new();
        let mut payments = Vec::new();
        for day in Facts::new(seed, s, inventory_layout(seed, s), &films, &staff, &h) {
            rentals.extend(day.rentals);
            payments.extend(day.payments);
        }
        (rentals, payments, s)
    }

    #[test]
    fn rentals_look_like_sakila() {
        let (rentals, payments, s) = facts(42, 1);
        let n = rentals.len();
        assert!((15_800..=16_044).contains(&n), "{n} rentals");
        // Ids dense and in date order.
        assert!(
            rentals
                .iter()
                .enumerate()
                .all(|(i, r)| r.rental_id == i as i32 + 1)
        );
        assert!(
            rentals
                .windows(2)
                .all(|w| w[0].rental_date <= w[1].rental_date)
        );
        let h = History::sakila();
        assert!(rentals.first().unwrap().rental_date.date() == h.first);
        assert!(rentals.last().unwrap().rental_date.date() == h.last);
        let open = rentals.iter().filter(|r| r.return_date.is_none()).count();
        let share = open as f64 / n as f64;
        assert!((0.008..0.03).contains(&share), "open share {share}");
        for r in &rentals {
            if let Some(back) = r.return_date {
                let days = (back - r.rental_date).num_days();
                assert!((0..=10).contains(&days));
                assert!(back < h.end());
                assert_eq!(r.last_update, utc(back));
            }
            assert!(r.customer_id >= 1 && r.customer_id <= s.customers);
        }
        // The UNIQUE key, and no copy out twice at once.
        let keys: HashSet<_> = rentals
            .iter()
            .map(|r| (r.rental_date, r.inventory_id, r.customer_id))
            .collect();
        assert_eq!(keys.len(), n);
        let mut by_copy: HashMap<u32, Vec<&rental::Model>> = HashMap::new();
        for r in &rentals {
            by_copy.entry(r.inventory_id).or_default().push(r);
        }
        for list in by_copy.values() {
            for w in list.windows(2) {
                let back = w[0].return_date.expect("an open rental blocks its copy");
                assert!(back <= w[1].rental_date);
            }
        }
        // One payment per returned rental, plus 5 loose ones.
        let returned = n - open;
        assert_eq!(payments.len(), returned + 5);
        assert_eq!(payments.iter().filter(|p| p.rental_id.is_none()).count(), 5);
        assert!(
            payments
                .iter()
                .enumerate()
                .all(|(i, p)| p.payment_id == i as u32 + 1)
        );
        let lo = Decimal::new(99, 2);
        let hi = Decimal::new(1199, 2);
        assert!(payments.iter().all(|p| p.amount >= lo && p.amount <= hi));
        assert!(payments.iter().any(|p| p.amount == hi));
        let total: i64 = payments
            .iter()
            .map(|p| crate::star::transform::cents(p.amount).unwrap())
            .sum();
        assert!((5_000_000..9_000_000).contains(&total), "{total} cents");
    }

    #[test]
    fn facts_scale_and_are_deterministic() {
        let (r1, p1, _) = facts(7, 2);
        let (r2, p2, _) = facts(7, 2);
        assert_eq!(r1, r2);
        assert_eq!(p1, p2);
        assert!((31_600..=32_088).contains(&r1.len()), "{}", r1.len());
        let (r3, _, _) = facts(8, 2);
        assert_ne!(r1, r3);
    }
}
