//! A [`Report`] as one HTML page: pure (no database, no file), so it is unit-tested as text.
//!
//! Everything is inline: the CSS in a `<style>`, the charts as `<svg>` ([`super::chart`]);
//! the page loads nothing and runs no script. Every text that comes from the warehouse
//! (titles, names, cities, errors) goes through [`escape`]. Tables have stable ids
//! (`top-categories`, `top-films`, ...) and one `<tr>` per entry in their `<tbody>`, and the
//! headline figures have ids (`revenue`, `rentals`, ...), so tests and scripts can read the
//! page back simply.

use std::fmt::Write as _;

use anyhow::Result;

use super::chart::{self, PALETTE};
use super::dollars;
use super::{Report, month_text, percent, thousands, two_decimals};

/// `text` safe inside HTML elements and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ink: #1d2430; --muted: #5b6573; --line: #d9dee5; --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 1rem 1.25rem 3rem; color: var(--ink);
  background: #fff; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.8rem; margin: .4rem 0; }
h2 { font-size: 1.35rem; margin: 2.2rem 0 .5rem; padding-bottom: .2rem;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .3rem; }
p { margin: .4rem 0; max-width: 70ch; }
.meta, .note { color: var(--muted); font-size: .92rem; }
nav ul { display: flex; flex-wrap: wrap; gap: .2rem 1rem; padding: 0; list-style: none;
  font-size: .92rem; }
nav a { color: var(--accent); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr));
  gap: .8rem; margin: .6rem 0; }
.figures div { border: 1px solid var(--line); border-radius: 8px; padding: .6rem .9rem; }
.figures dt { color: var(--muted); font-size: .9rem; }
.figures dd { margin: 0; }
.figures .value { font-size: 1.6rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.figures .sub { font-size: .82rem; color: var(--muted); }
figure { margin: .8rem 0; }
svg.chart { display: block; width: 100%; height: auto; max-width: 860px; }
.table-wrap { overflow-x: auto; margin: .4rem 0 1rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); font-size: .9rem; padding: .2rem 0; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap; }
th { font-weight: 600; }
.num { text-align: right; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .2rem 1.2rem; }
.swatch { display: inline-block; width: 1.6em; height: .4em; margin-right: .4em;
  vertical-align: middle; border-radius: 2px; }
.notice { border-left: 4px solid #d55e00; background: #fff6ef; padding: .7rem 1rem;
  max-width: none; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em; }
@media (max-width: 600px) {
  body { padding: .6rem .7rem 2rem; font-size: 15px; }
  h1 { font-size: 1.4rem; }
  .figures .value { font-size: 1.3rem; }
  th, td { padding: .25rem .45rem; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure, .table-wrap, .figures div { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  svg.chart { max-width: 16cm; }
  .notice { background: none; }
}
"#;

/// The whole page.
pub fn render(r: &Report) -> Result<String> {
    let h = &r.headline;
    let mut out = String::new();
    let title = if r.loaded {
        format!(
            "Sakila report: {} revenue, {} rentals ({})",
            dollars(h.revenue_cents),
            thousands(h.rentals),
            r.window.range_text()
        )
    } else {
        "Sakila report: nothing loaded yet".to_string()
    };
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n\
         <h1>Sakila rentals report</h1>\n\
         <p>Window: <strong id=\"window\">{}</strong></p>\n\
         <p class=\"meta\">Read from the warehouse {} at {} UTC by sakila-sync {}. Everything \
         on this page comes from the warehouse, not the source: <a href=\"#freshness\">Data \
         freshness</a> says how recent it is.</p>\n",
        escape(&title),
        escape(&r.window_text),
        escape(&r.warehouse),
        r.generated_at.format("%Y-%m-%d %H:%M:%S"),
        env!("CARGO_PKG_VERSION"),
    )?;
    if !r.loaded {
        out.push_str(
            "</header>\n<main>\n<p class=\"notice\" id=\"empty\"><strong>Nothing loaded yet: run \
             <code>sakila-sync full-load</code></strong> (or <code>sakila-sync incremental</code>) \
             to fill the warehouse from the source, then make the report again. The warehouse \
             is initialised but holds no rental or payment.</p>\n",
        );
        freshness(&mut out, r)?;
        out.push_str("</main>\n</body>\n</html>\n");
        return Ok(out);
    }
    out.push_str(
        "<nav aria-label=\"Sections\"><ul>\
         <li><a href=\"#headline\">Headline figures</a></li>\
         <li><a href=\"#revenue-by-month\">Revenue per month and store</a></li>\
         <li><a href=\"#top\">Top categories, films, actors</a></li>\
         <li><a href=\"#countries\">Countries</a></li>\
         <li><a href=\"#weekdays\">Days of the week</a></li>\
         <li><a href=\"#inventory\">Inventory use</a></li>\
         <li><a href=\"#freshness\">Data freshness</a></li></ul></nav>\n</header>\n<main>\n",
    );
    if h.rentals == 0 && h.payments == 0 {
        out.push_str(
            "<p class=\"notice\" id=\"empty-window\">No rental or payment falls in this window: \
             every figure below is zero. Widen it with <code>--days</code>, or \
             <code>--since</code>/<code>--until</code>, or leave the options out for all \
             time.</p>\n",
        );
    }
    headline(&mut out, r)?;
    monthly(&mut out, r)?;
    tops(&mut out, r)?;
    countries(&mut out, r)?;
    weekdays(&mut out, r)?;
    inventory(&mut out, r)?;
    freshness(&mut out, r)?;
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(out)
}

fn figure(out: &mut String, id: &str, name: &str, value: &str, sub: &str) -> Result<()> {
    writeln!(
        out,
        "<div><dt>{}</dt><dd class=\"value\" id=\"{id}\">{}</dd><dd class=\"sub\">{}</dd></div>",
        escape(name),
        escape(value),
        escape(sub)
    )?;
    Ok(())
}

fn headline(out: &mut String, r: &Report) -> Result<()> {
    let h = &r.headline;
    out.push_str("<section id=\"headline\">\n<h2>Headline figures</h2>\n<dl class=\"figures\">\n");
    figure(
        out,
        "revenue",
        "Revenue",
        &dollars(h.revenue_cents),
        &format!("{} payments", thousands(h.payments)),
    )?;
    figure(
        out,
        "rentals",
        "Rentals",
        &thousands(h.rentals),
        "rentals that started in the window",
    )?;
    figure(
        out,
        "paying-customers",
        "Paying customers",
        &thousands(h.paying_customers),
        "distinct customers with a payment in the window",
    )?;
    figure(
        out,
        "average-duration",
        "Average rental duration",
        &format!("{} days", two_decimals(h.days, h.timed)),
        &format!(
            "of the {} returned rentals, in whole days",
            thousands(h.timed)
        ),
    )?;
    figure(
        out,
        "late-share",
        "Returned late",
        &percent(h.late, h.returned),
        &format!(
            "{} of {} returned rentals were kept longer than the film's rental duration",
            thousands(h.late),
            thousands(h.returned)
        ),
    )?;
    figure(
        out,
        "still-out",
        "Still out",
        &thousands(h.still_out),
        "rentals of the window with no return date",
    )?;
    out.push_str("</dl>\n</section>\n");
    Ok(())
}

/// A chart, or a line saying there is nothing to draw.
fn chart_or_none(out: &mut String, svg: Option<String>) {
    match svg {
        Some(svg) => {
            out.push_str("<figure>");
            out.push_str(&svg);
            out.push_str("</figure>\n");
        }
        None => out.push_str("<p class=\"note\">Nothing to chart in this window.</p>\n"),
    }
}

/// A table: `head` cells (a leading `#` marks a numeric column), then `rows` of cells
/// already escaped.
fn table(out: &mut String, id: &str, caption: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(
        out,
        "<div class=\"table-wrap\"><table id=\"{id}\">\n<caption>{}</caption>\n<thead><tr>",
        escape(caption)
    );
    let numeric: Vec<bool> = head.iter().map(|h| h.starts_with('#')).collect();
    for h in head {
        match h.strip_prefix('#') {
            Some(h) => {
                let _ = write!(out, "<th scope=\"col\" class=\"num\">{}</th>", escape(h));
            }
            None => {
                let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
            }
        }
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if numeric.get(i).copied().unwrap_or(false) {
                let _ = write!(out, "<td class=\"num\">{cell}</td>");
            } else {
                let _ = write!(out, "<td>{cell}</td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

fn legend(out: &mut String, names: &[&str]) {
    out.push_str("<ul class=\"legend\">");
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            chart::css_color(i),
            escape(name)
        );
    }
    out.push_str("</ul>\n");
}

const STAFF_STORE: &str = "Attributed to the store of the staff member who took the payment \
    (fact_payment.store_key): that staff member's current store, so a staff member who moves \
    store takes their past payments along.";
const COPY_STORE: &str = "Attributed to the store of the rented copy: payment -> its rental \
    (fact_payment.rental_id) -> that rental's store (fact_rental.store_key, the copy's store). \
    Payments with no rental in the warehouse are shown as \"no rental\".";

fn monthly(out: &mut String, r: &Report) -> Result<()> {
    out.push_str("<section id=\"revenue-by-month\">\n<h2>Revenue per month and store</h2>\n");
    writeln!(out, "<p>{}</p>", escape(STAFF_STORE))?;
    if !r.months.is_empty() {
        out.push_str(
            "<p class=\"note\">Only months with payments are on the chart; months without any \
             are a shaded gap marked \"no data\", and no line is drawn across them.</p>\n",
        );
    }
    let names: Vec<&str> = r.monthly.iter().map(|s| s.store.as_str()).collect();
    if !names.is_empty() {
        legend(out, &names);
    }
    chart_or_none(
        out,
        chart::monthly_lines(
            &r.monthly,
            &r.months,
            "Revenue per month, one line per store of the staff member who took the payment",
        )?,
    );
    let mut head: Vec<String> = vec!["Month".into()];
    head.extend(names.iter().map(|n| format!("#{n}")));
    head.push("#Total".into());
    let rows: Vec<Vec<String>> = r
        .months
        .iter()
        .map(|&m| {
            let cells: Vec<i64> = r
                .monthly
                .iter()
                .map(|s| s.points.iter().find(|p| p.0 == m).map_or(0, |p| p.1))
                .collect();
            let mut row = vec![month_text(m)];
            row.extend(cells.iter().map(|&c| dollars(c)));
            row.push(dollars(cells.iter().sum()));
            row
        })
        .collect();
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    table(
        out,
        "monthly",
        "Revenue per month (payment date) and store of the staff member who took the payment",
        &head,
        &rows,
    );

    out.push_str("<h3>Revenue by store, two ways</h3>\n");
    writeln!(
        out,
        "<p><strong>By the staff member's store.</strong> {}</p>",
        escape(STAFF_STORE)
    )?;
    store_bars(
        out,
        "revenue-by-staff-store",
        "Revenue by the store of the staff member who took the payment",
        &r.by_staff_store,
    )?;
    writeln!(
        out,
        "<p><strong>By the rented copy's store.</strong> {}</p>",
        escape(COPY_STORE)
    )?;
    store_bars(
        out,
        "revenue-by-copy-store",
        "Revenue by the store of the rented copy",
        &r.by_copy_store,
    )?;
    out.push_str("</section>\n");
    Ok(())
}

fn store_bars(out: &mut String, id: &str, caption: &str, rows: &[(String, i64)]) -> Result<()> {
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let values: Vec<i64> = rows.iter().map(|r| r.1).collect();
    chart_or_none(
        out,
        chart::bars(&labels, &values, chart::MONEY, PALETTE[0], caption)?,
    );
    let total: i64 = values.iter().sum();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(name, cents)| vec![escape(name), dollars(*cents), percent(*cents, total)])
        .collect();
    table(out, id, caption, &["Store", "#Revenue", "#Share"], &cells);
    Ok(())
}

/// How one top list is shown.
struct Ranking {
    /// The table's id.
    id: &'static str,
    title: &'static str,
    /// The heading of the name column, and of the measure's.
    what: &'static str,
    measure: &'static str,
    numbers: chart::Numbers,
    color: usize,
}

fn ranking(out: &mut String, how: Ranking, entries: &[super::Ranked]) -> Result<()> {
    let Ranking {
        id,
        title,
        what,
        measure,
        numbers,
        color,
    } = how;
    let value = numbers.value;
    writeln!(out, "<h3>{}</h3>", escape(title))?;
    let names: Vec<String> = entries.iter().map(name_of).collect();
    let values: Vec<i64> = entries.iter().map(|e| e.value).collect();
    chart_or_none(
        out,
        chart::bars(&names, &values, numbers, PALETTE[color], title)?,
    );
    let rows: Vec<Vec<String>> = entries
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(i, (e, name))| vec![(i + 1).to_string(), escape(name), value(e.value)])
        .collect();
    table(
        out,
        id,
        title,
        &["#Rank", what, &format!("#{measure}")],
        &rows,
    );
    Ok(())
}

fn name_of(e: &super::Ranked) -> String {
    if e.is_deleted {
        format!("{} (deleted)", e.name)
    } else {
        e.name.clone()
    }
}

fn tops(out: &mut String, r: &Report) -> Result<()> {
    out.push_str("<section id=\"top\">\n<h2>Top categories, films and actors</h2>\n");
    out.push_str(
        "<p class=\"note\">Ties are listed by the source's id (category_id, film_id, \
         actor_id), ascending. Members since deleted from the source are kept, marked \
         \"(deleted)\": their rentals and payments happened.</p>\n",
    );
    ranking(
        out,
        Ranking {
            id: "top-categories",
            title: "Top 10 categories by revenue",
            what: "Category",
            measure: "Revenue",
            numbers: chart::MONEY,
            color: 0,
        },
        &r.top_categories,
    )?;
    out.push_str(
        "<p class=\"note\">A payment counts for the categories of the film of the rental it \
         pays for; payments with no rental count for none.</p>\n",
    );
    ranking(
        out,
        Ranking {
            id: "top-films",
            title: "Top 10 films by rentals",
            what: "Film",
            measure: "Rentals",
            numbers: chart::COUNT,
            color: 2,
        },
        &r.top_films,
    )?;
    ranking(
        out,
        Ranking {
            id: "top-actors",
            title: "Top 10 actors by rentals of their films",
            what: "Actor",
            measure: "Rentals",
            numbers: chart::COUNT,
            color: 3,
        },
        &r.top_actors,
    )?;
    out.push_str(
        "<p class=\"note\">A rental counts once for every actor in its film's cast.</p>\n\
         </section>\n",
    );
    Ok(())
}

fn countries(out: &mut String, r: &Report) -> Result<()> {
    out.push_str("<section id=\"countries\">\n<h2>Revenue by country</h2>\n");
    writeln!(
        out,
        "<p>The customer's country (dim_customer.country): the top {} of the {} countries with \
         revenue in the window. <strong>Share of customers</strong> is of the {} distinct \
         customers who rented in the window, counted in the country they live in.</p>",
        super::TOP_COUNTRIES.min(r.countries.len()),
        r.countries_with_revenue,
        thousands(r.renting_customers)
    )?;
    let labels: Vec<String> = r.countries.iter().map(|c| c.country.clone()).collect();
    let values: Vec<i64> = r.countries.iter().map(|c| c.cents).collect();
    chart_or_none(
        out,
        chart::bars(
            &labels,
            &values,
            chart::MONEY,
            PALETTE[1],
            "Revenue by customer country",
        )?,
    );
    let rows: Vec<Vec<String>> = r
        .countries
        .iter()
        .map(|c| {
            vec![
                escape(&c.country),
                dollars(c.cents),
                percent(c.cents, r.headline.revenue_cents),
                thousands(c.customers),
                percent(c.customers, r.renting_customers),
            ]
        })
        .collect();
    table(
        out,
        "countries-table",
        "Revenue and customers by country",
        &[
            "Country",
            "#Revenue",
            "#Share of revenue",
            "#Customers who rented",
            "#Share of customers",
        ],
        &rows,
    );
    out.push_str("</section>\n");
    Ok(())
}

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn weekdays(out: &mut String, r: &Report) -> Result<()> {
    out.push_str(
        "<section id=\"weekdays\">\n<h2>Rentals by day of the week</h2>\n\
         <p>The day each rental started (dim_date.day_of_week of rental_date_key).</p>\n",
    );
    let labels: Vec<String> = DAYS.iter().map(|d| d.to_string()).collect();
    let any = r.weekdays.iter().any(|&n| n > 0);
    chart_or_none(
        out,
        if any {
            chart::bars(
                &labels,
                &r.weekdays,
                chart::COUNT,
                PALETTE[2],
                "Rentals by day of the week",
            )?
        } else {
            None
        },
    );
    let total: i64 = r.weekdays.iter().sum();
    let rows: Vec<Vec<String>> = DAYS
        .iter()
        .zip(r.weekdays)
        .map(|(d, n)| vec![d.to_string(), thousands(n), percent(n, total)])
        .collect();
    table(
        out,
        "weekdays-table",
        "Rentals by day of the week",
        &["Day", "#Rentals", "#Share"],
        &rows,
    );
    out.push_str("</section>\n");
    Ok(())
}

fn inventory(out: &mut String, r: &Report) -> Result<()> {
    out.push_str(
        "<section id=\"inventory\">\n<h2>Inventory use</h2>\n\
         <p>Per store, the share of its copies rented at least once in the window. The warehouse \
         has no inventory dimension: the copies it knows are those rented at least once, ever \
         (distinct fact_rental.inventory_id of the store, all time), so a copy never rented is \
         not counted and the share is of copies known, not of every copy on the shelves.</p>\n",
    );
    let labels: Vec<String> = r.inventory.iter().map(|i| i.store.clone()).collect();
    // Per mille, so the bars and their labels stay integers.
    let values: Vec<i64> = r
        .inventory
        .iter()
        .map(|i| {
            if i.known > 0 {
                (i.rented * 1000 + i.known / 2) / i.known
            } else {
                0
            }
        })
        .collect();
    chart_or_none(
        out,
        chart::bars(
            &labels,
            &values,
            chart::PER_MILLE,
            PALETTE[4],
            "Share of known copies rented in the window, per store",
        )?,
    );
    let rows: Vec<Vec<String>> = r
        .inventory
        .iter()
        .map(|i| {
            vec![
                escape(&i.store),
                thousands(i.rented),
                thousands(i.known),
                percent(i.rented, i.known),
            ]
        })
        .collect();
    table(
        out,
        "inventory-table",
        "Copies rented in the window, of the copies the warehouse knows",
        &["Store", "#Rented in the window", "#Copies known", "#Share"],
        &rows,
    );
    out.push_str("</section>\n");
    Ok(())
}

fn when(t: Option<chrono::NaiveDateTime>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn freshness(out: &mut String, r: &Report) -> Result<()> {
    let f = &r.freshness;
    out.push_str("<section id=\"freshness\">\n<h2>Data freshness</h2>\n");
    match &f.last_success {
        Some(run) => writeln!(
            out,
            "<p id=\"last-sync\">Last synced by <strong>{}</strong> (run {}), which finished at \
             {} UTC.</p>",
            escape(&run.command),
            run.id,
            when(f.last_success_finished)
        )?,
        None => out.push_str(
            "<p id=\"last-sync\">No run has loaded the warehouse yet (no successful \
             <code>full-load</code> or <code>incremental</code> in sync_run).</p>\n",
        ),
    }
    match &f.last_validate {
        None => out.push_str(
            "<p id=\"last-validate\">Validate: none recorded (<code>watch \
             --validate-every</code> records one; a plain <code>validate</code> does not).</p>\n",
        ),
        Some(v) if v.passed => writeln!(
            out,
            "<p id=\"last-validate\">Validate: <strong>passed</strong> at {} UTC ({} checks).</p>",
            when(Some(v.at)),
            v.checks
        )?,
        Some(v) => writeln!(
            out,
            "<p id=\"last-validate\">Validate: <strong>FAILED</strong> at {} UTC: {} of {} checks \
             ({}).</p>",
            when(Some(v.at)),
            v.failed.len(),
            v.checks,
            escape(&v.failed.join(", "))
        )?,
    }
    out.push_str(
        "<p class=\"note\">Per source table, what the last load that advanced it recorded. The \
         watermark is the newest source <code>last_update</code> loaded; how far the source is \
         ahead of it now needs the source, which this report does not read: \
         <code>sakila-sync status</code> shows that lag.</p>\n",
    );
    let rows: Vec<Vec<String>> = f
        .tables
        .iter()
        .map(|t| {
            vec![
                escape(&t.table_name),
                when(t.watermark),
                thousands(t.rows_read),
                t.last_run_id.map_or("-".into(), |id| id.to_string()),
                when(Some(t.updated_at)),
            ]
        })
        .collect();
    table(
        out,
        "sync-state",
        "Per source table (sync_state)",
        &[
            "Source table",
            "Watermark (UTC)",
            "#Rows read",
            "#By run",
            "Updated at (UTC)",
        ],
        &rows,
    );
    let rows: Vec<Vec<String>> = f
        .runs
        .iter()
        .map(|run| {
            let status = match &run.error {
                Some(e) => format!("{}: {e}", run.status),
                None => run.status.clone(),
            };
            vec![
                run.id.to_string(),
                escape(&run.command),
                when(Some(run.started_at)),
                format!("{:.2}", run.seconds),
                escape(&status),
            ]
        })
        .collect();
    table(
        out,
        "runs",
        "The last runs, newest first (sync_run)",
        &["#Run", "Command", "Started (UTC)", "#Seconds", "Status"],
        &rows,
    );
    out.push_str("</section>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        CountryLine, Freshness, Headline, InventoryLine, Ranked, StoreSeries, month_index,
    };
    use crate::validate::WindowSpec;

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<b>"Tom & Jerry's"</b>"#),
            "&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot;&lt;/b&gt;"
        );
        assert_eq!(escape("ACADEMY DINOSAUR"), "ACADEMY DINOSAUR");
    }

    fn freshness() -> Freshness {
        Freshness {
            last_success: None,
            last_success_finished: None,
            runs: vec![],
            tables: vec![],
            last_validate: None,
        }
    }

    fn report(loaded: bool) -> Report {
        let m = month_index(2005, 5);
        Report {
            generated_at: chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
                .unwrap()
                .and_hms_opt(3, 4, 5)
                .unwrap(),
            warehouse: "w.db".into(),
            window: WindowSpec::AllTime.resolve(None),
            window_text: "all time (no window option)".into(),
            loaded,
            headline: Headline {
                revenue_cents: 6741651,
                payments: 16049,
                paying_customers: 599,
                rentals: 16044,
                returned: 15861,
                timed: 15861,
                days: 79305,
                late: 7269,
                still_out: 183,
            },
            monthly: vec![StoreSeries {
                store: "Store 1 <A&B>".into(),
                points: vec![(m, 100), (m + 2, 250)],
            }],
            months: vec![m, m + 2],
            by_staff_store: vec![("Store 1 <A&B>".into(), 350)],
            by_copy_store: vec![("no rental".into(), 350)],
            top_categories: vec![Ranked {
                id: 1,
                name: "Sports".into(),
                value: 531421,
                is_deleted: false,
            }],
            top_films: vec![Ranked {
                id: 2,
                name: "<script>alert(1)</script>".into(),
                value: 34,
                is_deleted: true,
            }],
            top_actors: vec![],
            countries: vec![CountryLine {
                country: "India".into(),
                cents: 10,
                customers: 1,
            }],
            countries_with_revenue: 1,
            renting_customers: 2,
            weekdays: [1, 2, 3, 4, 5, 6, 7],
            inventory: vec![InventoryLine {
                store: "Store 1".into(),
                rented: 1,
                known: 3,
            }],
            freshness: freshness(),
        }
    }

    #[test]
    fn a_loaded_report_states_its_figures_and_escapes_warehouse_text() {
        let page = render(&report(true)).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(
            "<title>Sakila report: $67,416.51 revenue, 16,044 rentals (all time)</title>"
        ));
        assert!(page.contains("id=\"revenue\">$67,416.51<"));
        assert!(page.contains("id=\"rentals\">16,044<"));
        assert!(page.contains("id=\"average-duration\">5.00 days<"));
        assert!(page.contains("id=\"late-share\">45.8%<"));
        assert!(!page.contains("<script"), "warehouse text is escaped");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; (deleted)"));
        assert!(page.contains("Store 1 &lt;A&amp;B&gt;"));
        assert!(!page.contains("<A&B>"));
        assert!(page.contains("<table id=\"top-categories\">"));
        assert!(page.contains(
            "<tr><td class=\"num\">1</td><td>Sports</td><td class=\"num\">$5,314.21</td></tr>"
        ));
        assert!(page.contains("fact_payment.store_key"));
        assert!(page.contains("no rental"));
        assert!(page.contains("@media print"));
        assert!(page.contains("overflow-x: auto"));
        // Offline: nothing is fetched, nothing runs.
        for external in [
            "http:", "https:", "src=", "<link", "@import", "url(", "<script",
        ] {
            assert!(!page.contains(external), "{external}");
        }
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 8);
    }

    #[test]
    fn an_empty_warehouse_says_what_to_run() {
        let page = render(&report(false)).unwrap();
        assert!(page.contains("Nothing loaded yet: run <code>sakila-sync full-load</code>"));
        assert!(page.contains("id=\"freshness\""));
        assert!(page.contains("No run has loaded the warehouse yet"));
        assert!(!page.contains("<svg"));
    }
}
