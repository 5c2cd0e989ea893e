//! Seeded, stratified choice of N conversations from the curated pool.
//!
//! Strata are (source, topic); a source without topics is one stratum. Allocation rule, applied
//! twice (first N across sources, then each source's share across its topics): each stratum
//! gets `N * size / total` rounded down, and the units still missing go one each to the largest
//! fractional remainders (Hamilton's largest-remainder method), ties broken by the larger
//! stratum, then by name. A quota never exceeds its stratum, so no rebalancing is needed; when
//! N is at least the pool, everything is taken.
//!
//! Within a stratum the conversations are ranked by SHA-256 of the seed (8 bytes little-endian)
//! followed by the conversation id, and the first `quota` are kept. This is a seeded random
//! permutation that depends on nothing but the seed and the ids, so it is identical on every
//! platform and crate version, and adding rows to one source does not reshuffle another.
//! The output lists sources in pool order, topics by name, and rows by rank.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::schema::{Conversation, Source};

/// Choose `n` conversations from `pool` (already filtered and deduplicated), stratified by
/// source and topic, deterministically for `seed`.
pub fn choose(pool: &[Conversation], n: usize, seed: u64) -> Vec<Conversation> {
    let mut by_source: BTreeMap<Source, BTreeMap<&str, Vec<&Conversation>>> = BTreeMap::new();
    for conversation in pool {
        let topic = conversation.topic.as_deref().unwrap_or("");
        by_source
            .entry(conversation.source)
            .or_default()
            .entry(topic)
            .or_default()
            .push(conversation);
    }
    let source_sizes: Vec<(String, usize)> = by_source
        .iter()
        .map(|(source, topics)| {
            (
                source.as_str().to_owned(),
                topics.values().map(Vec::len).sum(),
            )
        })
        .collect();
    let source_quotas = allocate(n, &source_sizes);
    let mut chosen = Vec::new();
    for ((_, topics), source_quota) in by_source.into_iter().zip(source_quotas) {
        let topic_sizes: Vec<(String, usize)> = topics
            .iter()
            .map(|(topic, rows)| ((*topic).to_owned(), rows.len()))
            .collect();
        let topic_quotas = allocate(source_quota, &topic_sizes);
        for ((_, mut rows), quota) in topics.into_iter().zip(topic_quotas) {
            rows.sort_by_cached_key(|c| rank(seed, c.id.as_str()));
            chosen.extend(rows.into_iter().take(quota).cloned());
        }
    }
    chosen
}

/// Split `n` over strata of the given `(name, size)` by largest remainder; quotas in input order.
pub fn allocate(n: usize, sizes: &[(String, usize)]) -> Vec<usize> {
    let total: usize = sizes.iter().map(|(_, size)| size).sum();
    if n >= total {
        return sizes.iter().map(|(_, size)| *size).collect();
    }
    // Exact integer arithmetic: quota = floor(n * size / total), remainder = (n * size) mod total.
    let mut quotas: Vec<usize> = sizes.iter().map(|(_, size)| n * size / total).collect();
    let missing = n - quotas.iter().sum::<usize>();
    let mut order: Vec<(Reverse<usize>, Reverse<usize>, &str, usize)> = sizes
        .iter()
        .enumerate()
        .map(|(index, (name, size))| {
            (
                Reverse((n * size) % total),
                Reverse(*size),
                name.as_str(),
                index,
            )
        })
        .collect();
    order.sort();
    for (_, _, _, index) in order.into_iter().take(missing) {
        if let Some(quota) = quotas.get_mut(index) {
            *quota += 1;
        }
    }
    quotas
}

/// The sort key of a conversation for `seed`.
fn rank(seed: u64, id: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(id.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ConversationId, SCHEMA_VERSION};

    fn sizes(list: &[(&str, usize)]) -> Vec<(String, usize)> {
        list.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
    }

    #[test]
    fn largest_remainder_by_hand() {
        // n=10 over 5, 3, 2 (total 10) is exact: 5, 3, 2.
        assert_eq!(
            allocate(10, &sizes(&[("a", 5), ("b", 3), ("c", 2)])),
            [5, 3, 2]
        );
        // n=4 over 5, 3, 2: exact shares 2.0, 1.2, 0.8 -> floors 2, 1, 0 (sum 3); the one
        // missing unit goes to the largest remainder, c's 0.8.
        assert_eq!(
            allocate(4, &sizes(&[("a", 5), ("b", 3), ("c", 2)])),
            [2, 1, 1]
        );
        // n=1 over 1, 1: tie on remainder and size, so the name decides: a.
        assert_eq!(allocate(1, &sizes(&[("b", 1), ("a", 1)])), [0, 1]);
    }

    #[test]
    fn takes_everything_when_asked_for_more() {
        assert_eq!(allocate(50, &sizes(&[("a", 5), ("b", 3)])), [5, 3]);
    }

    fn conversation(source: Source, id: usize, topic: Option<&str>) -> Conversation {
        Conversation {
            schema_version: SCHEMA_VERSION,
            id: ConversationId::new(source, &id.to_string()),
            source,
            source_id: id.to_string(),
            topic: topic.map(str::to_owned),
            context: format!("text {id}"),
            reference_response: None,
            metadata: BTreeMap::new(),
        }
    }

    fn pool() -> Vec<Conversation> {
        let mut pool: Vec<_> = (0..60)
            .map(|i| {
                conversation(
                    Source::Counselchat,
                    i,
                    Some(if i % 3 == 0 { "grief" } else { "anxiety" }),
                )
            })
            .collect();
        pool.extend((0..40).map(|i| conversation(Source::Mentalbench, i, None)));
        pool
    }

    #[test]
    fn quotas_follow_sources_and_topics() {
        let chosen = choose(&pool(), 10, 7);
        let count = |f: &dyn Fn(&Conversation) -> bool| chosen.iter().filter(|c| f(c)).count();
        assert_eq!(count(&|c| c.source == Source::Counselchat), 6);
        assert_eq!(count(&|c| c.topic.as_deref() == Some("anxiety")), 4);
        assert_eq!(count(&|c| c.topic.as_deref() == Some("grief")), 2);
        assert_eq!(count(&|c| c.source == Source::Mentalbench), 4);
    }

    #[test]
    fn same_seed_same_set_other_seed_other_set() {
        let ids = |seed| {
            choose(&pool(), 10, seed)
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(7), ids(7));
        assert_ne!(ids(7), ids(8));
    }
}
