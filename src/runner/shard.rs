//! Deterministic partition of a data set into shards, so N machines (a Slurm array) can each run
//! one part and `mhbench merge` can join them.

use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::schema::{ConversationId, Shard};

impl FromStr for Shard {
    type Err = String;

    /// Parse `K/N` with 1 <= K <= N.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s.split_once('/').ok_or_else(|| format!("`{s}`: expected K/N, e.g. 2/8"))?;
        let index: u32 = k.trim().parse().map_err(|_| format!("`{s}`: K is not a number"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("`{s}`: N is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("`{s}`: need 1 <= K <= N"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether `id` belongs to this shard: by a hash of the id, so membership never depends on
    /// file order or on which other conversations exist.
    pub fn contains(&self, id: &ConversationId) -> bool {
        let digest = Sha256::digest(id.as_str().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_lands_in_exactly_one_shard() {
        let shards: Vec<Shard> = (1..=3).map(|k| Shard { index: k, count: 3 }).collect();
        for i in 0..300 {
            let id = ConversationId(format!("sample:{i}"));
            assert_eq!(shards.iter().filter(|s| s.contains(&id)).count(), 1);
        }
    }

    #[test]
    fn rejects_out_of_range_shard() {
        assert!("0/2".parse::<Shard>().is_err());
        assert!("3/2".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
    }
}
