//! Writing rows into the warehouse: multi-row `insert_many`, sized to SQLite's bind-variable
//! limit, optionally as upserts on the primary key.

use anyhow::{Context, Result};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, IdenStatic, IntoActiveModel, Iterable,
    PrimaryKeyToColumn,
};

/// SQLite's default `SQLITE_MAX_VARIABLE_NUMBER` since 3.32.
const SQLITE_MAX_VARS: usize = 32_766;

/// How many rows of `E` fit in one statement.
pub fn rows_per_statement<E: EntityTrait>() -> usize {
    (SQLITE_MAX_VARS / E::Column::iter().count()).max(1)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Plain INSERT: the rows are new.
    Insert,
    /// INSERT .. ON CONFLICT(primary key) DO UPDATE SET every other column.
    Upsert,
}

/// Writes `rows` in as few statements as the bind limit allows; returns the rows written.
pub async fn write<E, C>(db: &C, rows: Vec<E::Model>, mode: Write) -> Result<u64>
where
    E: EntityTrait,
    C: ConnectionTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let total = rows.len() as u64;
    let per = rows_per_statement::<E>();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk = rows
            .by_ref()
            .take(per)
            .map(IntoActiveModel::into_active_model);
        let mut insert = E::insert_many(chunk);
        if mode == Write::Upsert {
            insert = insert.on_conflict(upsert_clause::<E>());
        }
        insert.exec_without_returning(db).await.with_context(|| {
            format!(
                "cannot write to warehouse table {}",
                E::default().table_name()
            )
        })?;
    }
    Ok(total)
}

fn upsert_clause<E: EntityTrait>() -> OnConflict {
    let pk: Vec<E::Column> = E::PrimaryKey::iter().map(|k| k.into_column()).collect();
    let others: Vec<E::Column> = E::Column::iter()
        .filter(|c| !pk.iter().any(|k| k.as_str() == c.as_str()))
        .collect();
    let mut clause = OnConflict::columns(pk);
    if others.is_empty() {
        clause.do_nothing();
    } else {
        clause.update_columns(others);
    }
    clause
}
