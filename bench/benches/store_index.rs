//! The memory store's token index, two ways, in one run: the hand-written open-addressing table
//! the store carried until issue 16 (copied below as it was), and `hashbrown::HashTable<u32>`,
//! each mapping a 64-bit hash to a slot number over the same array of 200-byte slots (the size
//! of the store's `Slot`).
//!
//! ```sh
//! cargo bench -p oauth-endpoints-bench --bench store_index
//! ```
//!
//! For 10,000 and 1,000,000 entries, the operations the store does on its index per token:
//! - `insert`: an index filled from empty (growth included), per entry;
//! - `hit`: a lookup of a stored token (the key hashed, the index probed, the slot compared),
//!   the tokens asked about in a random order;
//! - `miss`: a lookup of an unknown token;
//! - `churn`: one entry removed and a new key inserted for its slot, as a purge and an issuance
//!   do (removals leave tombstones in the hand-written table; this includes its rebuilds).
//!
//! The two variants of each operation run one after the other in the same group. It prints,
//! too, the bytes each index takes per entry.

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]

use std::hash::BuildHasher;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use hashbrown::HashTable;

type SlotIndex = u32;

/// A stored token as far as the index sees it: its hash, then the rest of the store's 200-byte
/// `Slot`.
struct Slot {
    hash: [u8; 32],
    _rest: [u64; 21],
}

/// The interface the store uses, so both indexes run the same code around them.
trait SlotMap: Default {
    fn find(&self, hash: u64, eq: impl FnMut(SlotIndex) -> bool) -> Option<SlotIndex>;
    fn insert(&mut self, hash: u64, slot: SlotIndex, rehash: impl Fn(SlotIndex) -> u64);
    fn remove(&mut self, hash: u64, slot: SlotIndex);
    fn bytes(&self) -> usize;
}

/// The hand-written index of `oauth-endpoints/src/store/memory.rs` before issue 16, unchanged
/// but for `replace` (the store's grant chains; not measured here).
mod custom {
    use super::SlotIndex;

    /// An open-addressing index from 64-bit hashes to slot numbers: one array of 8-byte
    /// entries, each the hash's upper half beside a slot number, probed linearly.
    #[derive(Default)]
    pub(crate) struct Index {
        /// A power of two long, or empty.
        pub(crate) entries: Vec<u64>,
        /// Live entries.
        len: usize,
        /// Live entries and tombstones: what probes must walk over.
        used: usize,
    }

    const EMPTY: u64 = 0;
    const TOMBSTONE: u64 = 1;

    impl Index {
        fn tag(hash: u64) -> u64 {
            (hash >> 32 | 1) << 32
        }

        fn mask(&self) -> usize {
            self.entries.len().wrapping_sub(1)
        }

        fn position(&self, hash: u64, mut eq: impl FnMut(SlotIndex) -> bool) -> Option<usize> {
            let mask = self.mask();
            let tag = Self::tag(hash);
            let mut at = hash as usize & mask;
            for _ in 0..self.entries.len() {
                let entry = *self.entries.get(at)?;
                if entry == EMPTY {
                    return None;
                }
                if entry & !u64::from(u32::MAX) == tag && eq(entry as SlotIndex) {
                    return Some(at);
                }
                at = (at + 1) & mask;
            }
            None
        }

        pub(crate) fn find(
            &self,
            hash: u64,
            eq: impl FnMut(SlotIndex) -> bool,
        ) -> Option<SlotIndex> {
            let at = self.position(hash, eq)?;
            self.entries.get(at).map(|&entry| entry as SlotIndex)
        }

        pub(crate) fn insert(
            &mut self,
            hash: u64,
            slot: SlotIndex,
            rehash: impl Fn(SlotIndex) -> u64,
        ) {
            if (self.used + 1) * 4 > self.entries.len() * 3 {
                self.rebuild(rehash);
            }
            let mask = self.mask();
            let mut at = hash as usize & mask;
            while let Some(&entry) = self.entries.get(at) {
                if entry == EMPTY || entry == TOMBSTONE {
                    if entry == EMPTY {
                        self.used += 1;
                    }
                    self.entries[at] = Self::tag(hash) | u64::from(slot);
                    self.len += 1;
                    return;
                }
                at = (at + 1) & mask;
            }
        }

        pub(crate) fn remove(&mut self, hash: u64, slot: SlotIndex) {
            let Some(at) = self.position(hash, |stored| stored == slot) else {
                return;
            };
            let next = self.entries.get((at + 1) & self.mask()).copied();
            if next == Some(EMPTY) {
                self.entries[at] = EMPTY;
                self.used -= 1;
            } else {
                self.entries[at] = TOMBSTONE;
            }
            self.len -= 1;
        }

        fn rebuild(&mut self, rehash: impl Fn(SlotIndex) -> u64) {
            let capacity = ((self.len + 1) * 2).next_power_of_two().max(16);
            let old = std::mem::replace(&mut self.entries, vec![EMPTY; capacity]);
            self.len = 0;
            self.used = 0;
            for entry in old {
                if entry != EMPTY && entry != TOMBSTONE {
                    let slot = entry as SlotIndex;
                    let hash = rehash(slot);
                    let mask = self.mask();
                    let mut at = hash as usize & mask;
                    while self.entries.get(at).is_some_and(|&e| e != EMPTY) {
                        at = (at + 1) & mask;
                    }
                    if let Some(free) = self.entries.get_mut(at) {
                        *free = Self::tag(hash) | u64::from(slot);
                        self.len += 1;
                        self.used += 1;
                    }
                }
            }
        }
    }
}

impl SlotMap for custom::Index {
    fn find(&self, hash: u64, eq: impl FnMut(SlotIndex) -> bool) -> Option<SlotIndex> {
        custom::Index::find(self, hash, eq)
    }
    fn insert(&mut self, hash: u64, slot: SlotIndex, rehash: impl Fn(SlotIndex) -> u64) {
        custom::Index::insert(self, hash, slot, rehash);
    }
    fn remove(&mut self, hash: u64, slot: SlotIndex) {
        custom::Index::remove(self, hash, slot);
    }
    fn bytes(&self) -> usize {
        self.entries.capacity() * 8
    }
}

/// `hashbrown::HashTable<u32>` as the store now uses it.
#[derive(Default)]
struct Table(HashTable<SlotIndex>);

impl SlotMap for Table {
    fn find(&self, hash: u64, mut eq: impl FnMut(SlotIndex) -> bool) -> Option<SlotIndex> {
        self.0.find(hash, |&slot| eq(slot)).copied()
    }
    fn insert(&mut self, hash: u64, slot: SlotIndex, rehash: impl Fn(SlotIndex) -> u64) {
        self.0.insert_unique(hash, slot, |&slot| rehash(slot));
    }
    fn remove(&mut self, hash: u64, slot: SlotIndex) {
        if let Ok(entry) = self.0.find_entry(hash, |&stored| stored == slot) {
            entry.remove();
        }
    }
    fn bytes(&self) -> usize {
        self.0.allocation_size()
    }
}

/// splitmix64: keys that look random, the same in every run.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key(n: u64) -> [u8; 32] {
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(n.wrapping_mul(4).wrapping_add(i as u64)).to_le_bytes());
    }
    key
}

/// A store's slots and hasher, and the index over them.
struct Store<M> {
    slots: Vec<Slot>,
    hasher: foldhash::fast::FixedState,
    index: M,
}

impl<M: SlotMap> Store<M> {
    fn new(count: usize) -> Self {
        let slots = (0..count as u64)
            .map(|n| Slot {
                hash: key(n),
                _rest: [n; 21],
            })
            .collect();
        let mut store = Self {
            slots,
            hasher: foldhash::fast::FixedState::with_seed(7),
            index: M::default(),
        };
        store.fill();
        store
    }

    /// Indexes every slot, from an empty index.
    fn fill(&mut self) {
        self.index = M::default();
        let (slots, hasher) = (&self.slots, self.hasher.clone());
        for (n, slot) in slots.iter().enumerate() {
            self.index
                .insert(hasher.hash_one(slot.hash), n as SlotIndex, |i| {
                    hasher.hash_one(slots[i as usize].hash)
                });
        }
    }

    fn find(&self, key: &[u8; 32]) -> Option<SlotIndex> {
        let slots = &self.slots;
        self.index.find(self.hasher.hash_one(key), |i| {
            slots.get(i as usize).is_some_and(|slot| slot.hash == *key)
        })
    }

    /// Removes slot `n`'s entry and indexes it again under a new key.
    fn churn(&mut self, n: usize, new_key: [u8; 32]) {
        let hasher = self.hasher.clone();
        self.index
            .remove(hasher.hash_one(self.slots[n].hash), n as SlotIndex);
        self.slots[n].hash = new_key;
        let slots = &self.slots;
        self.index
            .insert(hasher.hash_one(new_key), n as SlotIndex, |i| {
                hasher.hash_one(slots[i as usize].hash)
            });
    }
}

/// Runs `body` on each variant, alternately, in one group.
fn compare(c: &mut Criterion, count: usize) {
    let mut custom = Store::<custom::Index>::new(count);
    let mut table = Store::<Table>::new(count);
    println!(
        "index/{count}: bytes per entry: custom {:.1}, hashtable {:.1}",
        custom.index.bytes() as f64 / count as f64,
        table.index.bytes() as f64 / count as f64,
    );
    // The keys asked about: a random sample of the stored ones, and unknown ones.
    let sample = count.min(100_000);
    let hits: Vec<[u8; 32]> = (0..sample as u64)
        .map(|n| key(mix(n) % count as u64))
        .collect();
    let misses: Vec<[u8; 32]> = (0..sample as u64).map(|n| key(u64::MAX - n)).collect();

    let mut group = c.benchmark_group(format!("index/{count}"));
    group.sample_size(if count > 100_000 { 10 } else { 50 });
    macro_rules! both {
        ($op:literal, $store:ident, $body:expr) => {
            group.bench_function(BenchmarkId::new($op, "custom"), |b| {
                let $store = &mut custom;
                b.iter_custom($body)
            });
            group.bench_function(BenchmarkId::new($op, "hashtable"), |b| {
                let $store = &mut table;
                b.iter_custom($body)
            });
        };
    }
    // One iteration: `count` inserts. Criterion's figure divided by `count` is ns per insert.
    both!("insert_all", store, |iters| {
        let mut elapsed = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            store.fill();
            elapsed += start.elapsed();
        }
        elapsed
    });
    both!("hit", store, |iters| {
        let start = Instant::now();
        for i in 0..iters as usize {
            black_box(store.find(black_box(&hits[i % sample])));
        }
        start.elapsed()
    });
    both!("miss", store, |iters| {
        let start = Instant::now();
        for i in 0..iters as usize {
            black_box(store.find(black_box(&misses[i % sample])));
        }
        start.elapsed()
    });
    let mut fresh = 1u64 << 40;
    both!("churn", store, |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            fresh += 1;
            let n = (mix(fresh) % count as u64) as usize;
            store.churn(n, key(fresh));
        }
        start.elapsed()
    });
    group.finish();
    // Everything is still found after the churn.
    let missing = |store: &dyn Fn(&[u8; 32]) -> Option<SlotIndex>, slots: &[Slot]| {
        slots
            .iter()
            .enumerate()
            .filter(|(n, slot)| store(&slot.hash) != Some(*n as SlotIndex))
            .count()
    };
    assert_eq!(missing(&|k| custom.find(k), &custom.slots), 0);
    assert_eq!(missing(&|k| table.find(k), &table.slots), 0);
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    compare(&mut c, 10_000);
    compare(&mut c, 1_000_000);
    c.final_summary();
}
