//! The rise/fall state machine: pure, no clocks, no I/O.
//!
//! A server starts [`State::Unknown`]. It goes up after `rise` successes in a row and down after
//! `fall` failures in a row, from any state: unlike ldirectord, which brings a server back on its
//! first good check, a server that was down must also pass `rise` checks, so one lucky answer
//! from a flapping server does not put it back in the pool. The first transition out of
//! `Unknown` also waits for `rise` (or `fall`) results: at startup the balancer has not sent this
//! server anything yet, and waiting `rise` intervals costs less than a flap. Configure `rise: 1`
//! for the ldirectord behaviour.

use std::fmt;

/// A server's health as far as one check knows; also what `list` shows of a real (a real with
/// no verdict yet is `unknown`, treated as up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not yet `rise` successes or `fall` failures in a row since the check started.
    Unknown,
    /// Passed `rise` checks in a row and has not failed `fall` in a row since.
    Up,
    /// Failed `fall` checks in a row and has not passed `rise` in a row since.
    Down,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down => "down",
        })
    }
}

/// Counts consecutive results and says when the state changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracker {
    state: State,
    rise: u32,
    fall: u32,
    /// Successes in a row (0 after any failure).
    successes: u32,
    /// Failures in a row (0 after any success).
    failures: u32,
}

impl Tracker {
    /// A tracker in [`State::Unknown`]; `rise` and `fall` of 0 are taken as 1.
    pub fn new(rise: u32, fall: u32) -> Self {
        Self {
            state: State::Unknown,
            rise: rise.max(1),
            fall: fall.max(1),
            successes: 0,
            failures: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Records one probe result; returns the new state when it changed.
    pub fn record(&mut self, ok: bool) -> Option<State> {
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if self.state != State::Up && self.successes >= self.rise {
                self.state = State::Up;
                return Some(State::Up);
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.state != State::Down && self.failures >= self.fall {
                self.state = State::Down;
                return Some(State::Down);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `results` ('+' success, '-' failure) and returns the state after each.
    fn run(rise: u32, fall: u32, results: &str) -> String {
        let mut t = Tracker::new(rise, fall);
        results
            .chars()
            .map(|c| {
                let changed = t.record(c == '+');
                let s = t.state();
                // A change is reported exactly when the state differs from before.
                if let Some(new) = changed {
                    assert_eq!(new, s);
                }
                match s {
                    State::Unknown => '?',
                    State::Up => 'U',
                    State::Down => 'D',
                }
            })
            .collect()
    }

    #[test]
    fn table_of_sequences() {
        // (rise, fall, results, states after each result)
        let cases = [
            (1, 1, "+", "U"),
            (1, 1, "-", "D"),
            (1, 1, "+-+-", "UDUD"),
            (2, 3, "+", "?"),
            (2, 3, "++", "?U"),
            (2, 3, "+-+-+-", "??????"),
            (2, 3, "--", "??"),
            (2, 3, "---", "??D"),
            (2, 3, "++--+---", "?UUUUUUD"),
            (2, 3, "---+-++", "??DDDDU"),
            (3, 2, "++-+++", "?????U"),
            (3, 2, "+++-+--", "??UUUUD"),
            (3, 2, "+++--++-+++", "??UUDDDDDDU"),
            // A single success while down does not bring the server back (rise = 3).
            (3, 1, "-+-++-+++", "DDDDDDDDU"),
            // Zero rise/fall act as one.
            (0, 0, "+-", "UD"),
        ];
        for (rise, fall, results, want) in cases {
            assert_eq!(
                run(rise, fall, results),
                want,
                "rise {rise} fall {fall} results {results}"
            );
        }
    }

    #[test]
    fn changes_are_reported_once() {
        let mut t = Tracker::new(2, 2);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(State::Up));
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(State::Down));
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(State::Up));
    }

    /// Every result sequence up to length 10, rise and fall up to 4, against a direct
    /// definition: after each result the state is Up if the last `rise` results all passed,
    /// Down if the last `fall` all failed, and otherwise what it was.
    #[test]
    fn exhaustive_against_reference_definition() {
        fn reference(rise: usize, fall: usize, history: &[bool]) -> State {
            let mut state = State::Unknown;
            for i in 0..history.len() {
                let upto = &history[..=i];
                let tail_ok = upto.len() >= rise && upto[upto.len() - rise..].iter().all(|&b| b);
                let tail_bad = upto.len() >= fall && upto[upto.len() - fall..].iter().all(|&b| !b);
                if tail_ok {
                    state = State::Up;
                } else if tail_bad {
                    state = State::Down;
                }
            }
            state
        }
        for rise in 1..=4u32 {
            for fall in 1..=4u32 {
                for len in 0..=10usize {
                    for bits in 0..(1u32 << len) {
                        let history: Vec<bool> = (0..len).map(|i| bits & (1 << i) != 0).collect();
                        let mut t = Tracker::new(rise, fall);
                        let mut prev = State::Unknown;
                        for &ok in &history {
                            if let Some(s) = t.record(ok) {
                                assert_ne!(s, prev, "a reported change must change the state");
                            }
                            prev = t.state();
                        }
                        assert_eq!(
                            t.state(),
                            reference(rise as usize, fall as usize, &history),
                            "rise {rise} fall {fall} history {history:?}"
                        );
                    }
                }
            }
        }
    }
}
