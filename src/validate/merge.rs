//! Merge-joining two streams ordered by the same natural key, and comparing rows column by
//! column. Memory holds one row per side, whatever the table size.

use std::cmp::Ordering;
use std::fmt::Debug;

use anyhow::{Result, bail};
use futures::{Stream, TryStreamExt};
use sea_orm::{EntityTrait, IdenStatic, Iterable, ModelTrait};

/// Walks `source` and `warehouse`, both in strictly ascending key order, and calls `each`
/// once per key: with both rows, or with the one side that has it.
pub async fn merge_join<K, S, W>(
    table: &str,
    source: impl Stream<Item = Result<(K, S)>>,
    warehouse: impl Stream<Item = Result<(K, W)>>,
    mut each: impl FnMut(K, Option<S>, Option<W>) -> Result<()>,
) -> Result<()>
where
    K: Ord + Copy + Debug,
{
    let mut source = std::pin::pin!(source);
    let mut warehouse = std::pin::pin!(warehouse);
    let bar = crate::sync::progress::rows(&format!("{table} compared"));
    let mut each = |k, s, w| {
        bar.inc(1);
        each(k, s, w)
    };
    let mut src_order = Order::new(table, "source");
    let mut wh_order = Order::new(table, "warehouse");
    let mut a = src_order.check(source.try_next().await?)?;
    let mut b = wh_order.check(warehouse.try_next().await?)?;
    loop {
        match (a.take(), b.take()) {
            (None, None) => {
                bar.finish_and_clear();
                return Ok(());
            }
            (Some((k, s)), None) => {
                each(k, Some(s), None)?;
                a = src_order.check(source.try_next().await?)?;
            }
            (None, Some((k, w))) => {
                each(k, None, Some(w))?;
                b = wh_order.check(warehouse.try_next().await?)?;
            }
            (Some((ka, s)), Some((kb, w))) => match ka.cmp(&kb) {
                Ordering::Less => {
                    each(ka, Some(s), None)?;
                    a = src_order.check(source.try_next().await?)?;
                    b = Some((kb, w));
                }
                Ordering::Greater => {
                    each(kb, None, Some(w))?;
                    a = Some((ka, s));
                    b = wh_order.check(warehouse.try_next().await?)?;
                }
                Ordering::Equal => {
                    each(ka, Some(s), Some(w))?;
                    let (na, nb) =
                        futures::future::try_join(source.try_next(), warehouse.try_next()).await?;
                    a = src_order.check(na)?;
                    b = wh_order.check(nb)?;
                }
            },
        }
    }
}

/// Guards the merge's assumption: keys arrive strictly ascending. A violation would make the
/// merge report wrong differences, so it is an error instead.
struct Order<'a, K> {
    table: &'a str,
    side: &'static str,
    last: Option<K>,
}

impl<'a, K: Ord + Copy + Debug> Order<'a, K> {
    fn new(table: &'a str, side: &'static str) -> Self {
        Self {
            table,
            side,
            last: None,
        }
    }

    fn check<T>(&mut self, item: Option<(K, T)>) -> Result<Option<(K, T)>> {
        if let Some((k, _)) = &item {
            if let Some(last) = self.last
                && last >= *k
            {
                bail!(
                    "{} rows of {} are not in ascending key order ({:?} after {:?})",
                    self.side,
                    self.table,
                    k,
                    last
                );
            }
            self.last = Some(*k);
        }
        Ok(item)
    }
}

/// The columns in which two rows of one table differ (empty when they are equal).
pub fn differing_columns<M: ModelTrait + PartialEq>(expected: &M, actual: &M) -> Vec<&'static str> {
    if expected == actual {
        return Vec::new();
    }
    <M::Entity as EntityTrait>::Column::iter()
        .filter(|c| expected.get(*c) != actual.get(*c))
        .map(|c| c.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn rows(keys: &[i64]) -> impl Stream<Item = Result<(i64, i64)>> + use<> {
        stream::iter(keys.iter().map(|k| Ok((*k, *k * 10))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn merge_pairs_rows_and_names_the_lonely_ones() {
        let mut seen = Vec::new();
        merge_join(
            "t",
            rows(&[1, 2, 4, 6]),
            rows(&[2, 3, 4, 7, 8]),
            |k, s, w| {
                seen.push((k, s.is_some(), w.is_some()));
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (1, true, false),
                (2, true, true),
                (3, false, true),
                (4, true, true),
                (6, true, false),
                (7, false, true),
                (8, false, true),
            ]
        );
    }

    #[tokio::test]
    async fn merge_handles_empty_sides() {
        let mut n = 0;
        merge_join("t", rows(&[]), rows(&[1, 2]), |_, s, _| {
            assert!(s.is_none());
            n += 1;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(n, 2);
        merge_join("t", rows(&[]), rows(&[]), |_, _, _: Option<i64>| {
            panic!("no rows")
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn merge_refuses_unordered_input() {
        let err = merge_join("t", rows(&[1, 3, 2]), rows(&[]), |_, _, _| Ok(()))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not in ascending key order"),
            "{err}"
        );
        assert!(
            merge_join("t", rows(&[]), rows(&[1, 1]), |_, _, _| Ok(()))
                .await
                .is_err()
        );
    }

    #[test]
    fn differing_columns_name_each_changed_column() {
        use crate::warehouse::entity::dim_category;
        let t = chrono::NaiveDate::from_ymd_opt(2006, 2, 15)
            .unwrap()
            .and_hms_opt(4, 46, 27)
            .unwrap();
        let a = dim_category::Model {
            category_key: 1,
            category_id: 1,
            name: "Action".into(),
            last_update: t,
            is_deleted: false,
        };
        assert!(differing_columns(&a, &a.clone()).is_empty());
        let b = dim_category::Model {
            name: "Drama".into(),
            is_deleted: true,
            ..a.clone()
        };
        assert_eq!(differing_columns(&a, &b), vec!["name", "is_deleted"]);
    }
}
