//! The shared round-robin counters' keys and the `weighted` strategy's
//! cycle: pure functions that the snapshot computes once at load and the
//! selector reads on every pick.

/// The key of the round-robin counter of one (provider, upstream model).
pub fn counter_key(provider: &str, model: &str) -> String {
    let mut key = String::with_capacity(4 + provider.len() + model.len());
    key.push_str("rr:");
    key.push_str(provider);
    key.push(':');
    key.push_str(model);
    key
}

/// The key of the round-robin counter that every model a provider does not
/// list shares. It cannot equal a per-model key: those have a second `:`.
pub fn other_counter_key(provider: &str) -> String {
    format!("rr:{provider}")
}

/// The `weighted` strategy's cycle for accounts of the given weights (in
/// rotation order): each position appears as often as its weight (weights
/// are first divided by their greatest common divisor, and 0 counts as 1),
/// and the turns of each are spread evenly over the cycle. The `j`-th turn
/// of an account of weight `w` sits at `(2j + 1) / 2w` of the cycle; ties go
/// to the earlier account. Weights 3 and 1 give the cycle
/// (`[0, 0, 1, 0]`): the first account has exactly 3 of every 4 turns.
pub fn weighted_cycle(weights: impl Iterator<Item = u32>) -> Box<[u32]> {
    let weights: Vec<u64> = weights.map(|w| u64::from(w.max(1))).collect();
    let divisor = weights.iter().copied().fold(0, gcd).max(1);
    let mut turns: Vec<(u64, u64, u32)> = Vec::new();
    for (position, &weight) in weights.iter().enumerate() {
        let Ok(position) = u32::try_from(position) else {
            break;
        };
        let weight = weight / divisor;
        for j in 0..weight {
            // The turn's place as the fraction (2j + 1) / 2w.
            turns.push((2 * j + 1, 2 * weight, position));
        }
    }
    // Compare a/b with c/d as a·d against c·b (small numbers: no overflow).
    turns.sort_by(|x, y| (x.0 * y.1).cmp(&(y.0 * x.1)).then_with(|| x.2.cmp(&y.2)));
    turns.into_iter().map(|(_, _, position)| position).collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_key_names_provider_and_model() {
        assert_eq!(counter_key("openai", "gpt-4o"), "rr:openai:gpt-4o");
        assert_eq!(other_counter_key("openai"), "rr:openai");
    }

    #[test]
    fn weighted_cycle_gives_each_account_its_weight_spread_evenly() {
        let cycle = weighted_cycle([3, 1].into_iter());
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.iter().filter(|&&p| p == 0).count(), 3);
        // The light account's one turn is not at an edge of the cycle.
        assert_eq!(&*cycle, &[0, 0, 1, 0]);
        // Common factors are divided out; 0 counts as 1.
        assert_eq!(weighted_cycle([6, 2].into_iter()).len(), 4);
        assert_eq!(&*weighted_cycle([0, 0].into_iter()), &[0, 1]);
        let cycle = weighted_cycle([5, 3, 2].into_iter());
        assert_eq!(cycle.len(), 10);
        for (p, w) in [(0, 5), (1, 3), (2, 2)] {
            assert_eq!(cycle.iter().filter(|&&x| x == p).count(), w);
        }
    }
}
