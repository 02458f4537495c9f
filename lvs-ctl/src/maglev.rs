//! Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
//! Load Balancer", NSDI 2016), weighted.
//!
//! Each backend walks its own permutation of the table's slots (`offset`, `skip` from two
//! hashes of its stable name) and takes turns claiming the next free slot on its walk. With
//! weights, a backend earns `weight` credits a round and claims one slot per `max_weight`
//! credits, so the backend of the largest weight claims one slot every round and the others in
//! proportion. The table is a pure function of the backends (names, weights, order-free) and
//! the size: the same on any machine.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// One backend of a table: a name that stays the same for the life of the backend (the
/// controller uses the real's address) and its weight. Weight 0 backends get no slot.
#[derive(Clone, Copy, Debug)]
pub struct Backend<'a> {
    pub name: &'a [u8],
    pub weight: u32,
}

/// Marks a slot that no backend holds (only when every weight is 0).
pub const EMPTY: u32 = u32::MAX;

/// Builds a table of `size` slots (a prime). Each slot holds the position in `backends` of
/// its backend, or [`EMPTY`] when no backend has a weight. Names must be unique.
pub fn build(backends: &[Backend<'_>], size: u32) -> Vec<u32> {
    assert!(is_prime(size), "Maglev table size {size} is not a prime");
    let m = size as u64;
    let mut table = vec![EMPTY; size as usize];
    // Sort by name so that the claiming order, and so the table, does not depend on the order
    // the caller lists the backends in.
    let mut order: Vec<usize> = (0..backends.len())
        .filter(|&i| backends[i].weight > 0)
        .collect();
    if order.is_empty() {
        return table;
    }
    order.sort_by(|&a, &b| backends[a].name.cmp(backends[b].name));
    let max_weight = order
        .iter()
        .map(|&i| backends[i].weight as u64)
        .max()
        .unwrap_or(1);

    struct Walk {
        at: usize,
        pos: u64,
        skip: u64,
        weight: u64,
        credit: u64,
    }
    let mut walks: Vec<Walk> = order
        .iter()
        .map(|&at| {
            let name = backends[at].name;
            let offset = hash(name, 0x6d61_676c_6576_0001) % m;
            let skip = hash(name, 0x6d61_676c_6576_0002) % (m - 1) + 1;
            Walk {
                at,
                pos: offset,
                skip,
                weight: backends[at].weight as u64,
                credit: 0,
            }
        })
        .collect();

    let mut filled = 0u64;
    'rounds: loop {
        for w in walks.iter_mut() {
            w.credit += w.weight;
            while w.credit >= max_weight {
                w.credit -= max_weight;
                // Claim the next free slot on this backend's walk.
                while table[w.pos as usize] != EMPTY {
                    w.pos += w.skip;
                    if w.pos >= m {
                        w.pos -= m;
                    }
                }
                table[w.pos as usize] = w.at as u32;
                filled += 1;
                if filled == m {
                    break 'rounds;
                }
            }
        }
    }
    table
}

fn hash(name: &[u8], key: u64) -> u64 {
    let mut h = SipHasher13::new_with_keys(key, !key);
    h.write(name);
    h.finish()
}

/// True if `n` is a prime (trial division; table sizes are at most a few million).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3u32;
    while (d as u64) * (d as u64) <= n as u64 {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u32 = 65537;

    fn make_names(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("198.18.{}.{}", i / 250, i % 250 + 1))
            .collect()
    }

    fn backends(names: &[String], weight: impl Fn(usize) -> u32) -> Vec<Backend<'_>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Backend {
                name: n.as_bytes(),
                weight: weight(i),
            })
            .collect()
    }

    fn counts(table: &[u32], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &s in table {
            c[s as usize] += 1;
        }
        c
    }

    #[test]
    fn equal_weights_differ_by_at_most_one_slot() {
        // The paper's round-robin claiming gives each backend floor(M/N) or ceil(M/N) slots.
        for n in [1, 3, 10, 100, 1000] {
            let names = make_names(n);
            let table = build(&backends(&names, |_| 1), M);
            let c = counts(&table, n);
            let (lo, hi) = (c.iter().min().unwrap(), c.iter().max().unwrap());
            assert!(hi - lo <= 1, "n={n}: {lo}..={hi}");
        }
    }

    #[test]
    fn weighted_shares_follow_weights() {
        let names = make_names(3);
        let table = build(&backends(&names, |i| [1, 1, 2][i]), M);
        let c = counts(&table, 3);
        let expect = [M as f64 / 4.0, M as f64 / 4.0, M as f64 / 2.0];
        for i in 0..3 {
            let err = (c[i] as f64 - expect[i]).abs() / expect[i];
            assert!(
                err < 0.001,
                "backend {i}: {} slots, expected {}",
                c[i],
                expect[i]
            );
        }
        // Mixed weights over many backends: every share within 1% of its weight's share.
        let names = make_names(100);
        let w = |i: usize| (i % 7 + 1) as u32 * 10;
        let table = build(&backends(&names, w), M);
        let c = counts(&table, 100);
        let total: u32 = (0..100).map(w).sum();
        for (i, &got) in c.iter().enumerate() {
            let expect = M as f64 * w(i) as f64 / total as f64;
            let err = (got as f64 - expect).abs() / expect;
            assert!(err < 0.01, "backend {i}: {got} slots, expected {expect:.1}");
        }
    }

    #[test]
    fn zero_weight_backends_get_no_slot() {
        let names = make_names(3);
        let table = build(&backends(&names, |i| [1, 0, 1][i]), M);
        assert_eq!(counts(&table, 3)[1], 0);
        let table = build(&backends(&names, |_| 0), M);
        assert!(table.iter().all(|&s| s == EMPTY));
    }

    #[test]
    fn deterministic_and_independent_of_listing_order() {
        let names = make_names(50);
        let a = build(&backends(&names, |i| i as u32 % 3 + 1), M);
        let b = build(&backends(&names, |i| i as u32 % 3 + 1), M);
        assert_eq!(a, b);
        // Reversed listing: the same backend in every slot.
        let mut rev = backends(&names, |i| i as u32 % 3 + 1);
        rev.reverse();
        let c = build(&rev, M);
        for (x, y) in a.iter().zip(&c) {
            assert_eq!(names[*x as usize], names[49 - *y as usize]);
        }
        // A fixed point, so that a change to the hash or the algorithm is noticed: tables built
        // by another version would move flows on upgrade.
        let small = build(&backends(&names[..3], |_| 1), 7);
        assert_eq!(small, vec![0, 1, 0, 2, 2, 1, 0]);
    }

    /// Slots of other backends that may move on one change, as a share of the table. The paper
    /// (section 3.4) asks for M well above 100·N for minimal disruption; there we allow 1/N on
    /// top of the ideal. At N = 1000 a 65537-slot table is only 65·N, and disruption grows as
    /// the paper's figure 9 shows: we allow 1% of the table (measured: 0.6%).
    fn allowed_extra(n: usize) -> f64 {
        if M as usize >= 100 * n {
            1.0 / n as f64
        } else {
            0.01
        }
    }

    /// Removing one of N backends: its slots move (they must), and few others do.
    #[test]
    fn removal_moves_few_slots_of_other_backends() {
        for n in [10usize, 100, 1000] {
            let names = make_names(n);
            let before = build(&backends(&names, |_| 1), M);
            let gone = n / 2;
            let after = build(&backends(&names, |i| if i == gone { 0 } else { 1 }), M);
            let mut own = 0;
            let mut others = 0;
            for (b, a) in before.iter().zip(&after) {
                if *b as usize == gone {
                    own += 1;
                    assert_ne!(*a as usize, gone);
                } else if b != a {
                    others += 1;
                }
            }
            let ideal = M as f64 / n as f64;
            assert!(
                (own as f64 - ideal).abs() <= 1.0,
                "n={n}: removed backend held {own}"
            );
            let extra = others as f64 / M as f64;
            assert!(
                extra <= allowed_extra(n),
                "n={n}: {others} slots of other backends moved ({extra:.4})"
            );
        }
    }

    #[test]
    fn addition_moves_few_slots() {
        for n in [10usize, 100, 1000] {
            let names = make_names(n + 1);
            let before = build(&backends(&names[..n], |_| 1), M);
            let after = build(&backends(&names, |_| 1), M);
            let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
            let ideal = M as f64 / (n + 1) as f64;
            let allowed = ideal + allowed_extra(n) * M as f64;
            assert!(
                moved as f64 <= allowed,
                "n={n}: {moved} slots moved, ideal {ideal:.0}"
            );
        }
    }

    #[test]
    fn primes() {
        let primes: Vec<u32> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65537) && is_prime(2) && is_prime(7) && is_prime(1048573));
        assert!(!is_prime(1_048_575));
        assert!(!is_prime(65536) && !is_prime(1) && !is_prime(0) && !is_prime(65535));
    }
}
