//! Natural id -> value maps held in memory, so no row ever needs a lookup query.
//!
//! Sakila ids are dense auto-increment integers, so a vector indexed by id is both the
//! smallest and the fastest map; ids past `DENSE_LIMIT` (never seen in practice) fall back
//! to a hash map so memory stays bounded whatever the ids.

use std::collections::HashMap;

const DENSE_LIMIT: u32 = 1 << 24;

#[derive(Clone, Debug)]
pub struct KeyMap<T: Copy> {
    dense: Vec<Option<T>>,
    sparse: HashMap<u32, T>,
}

impl<T: Copy> Default for KeyMap<T> {
    fn default() -> Self {
        Self {
            dense: Vec::new(),
            sparse: HashMap::new(),
        }
    }
}

impl<T: Copy> KeyMap<T> {
    pub fn insert(&mut self, id: u32, value: T) {
        if id < DENSE_LIMIT {
            let i = id as usize;
            if i >= self.dense.len() {
                self.dense.resize(i + 1, None);
            }
            self.dense[i] = Some(value);
        } else {
            self.sparse.insert(id, value);
        }
    }

    pub fn get(&self, id: u32) -> Option<T> {
        if id < DENSE_LIMIT {
            self.dense.get(id as usize).copied().flatten()
        } else {
            self.sparse.get(&id).copied()
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, T)> + '_ {
        self.dense
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as u32, v)))
            .chain(self.sparse.iter().map(|(k, v)| (*k, *v)))
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_ids_round_trip() {
        let mut m = KeyMap::default();
        m.insert(3, 30);
        m.insert(DENSE_LIMIT + 5, 99);
        assert_eq!(m.get(3), Some(30));
        assert_eq!(m.get(2), None);
        assert_eq!(m.get(1000), None);
        assert_eq!(m.get(DENSE_LIMIT + 5), Some(99));
        assert_eq!(m.len(), 2);
        let mut all: Vec<_> = m.iter().collect();
        all.sort();
        assert_eq!(all, vec![(3, 30), (DENSE_LIMIT + 5, 99)]);
    }
}
