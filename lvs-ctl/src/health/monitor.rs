//! Scheduling: one tokio task per distinct `(Target, CheckSpec)`, its results fanned out to
//! every [`CheckId`] that wants it.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::probe::Prober;
use super::spec::{CheckSpec, Target};
use super::state::{State, Tracker};

/// The caller's key for one wanted check, e.g. `(service index, real index)`. Anything
/// cloneable, hashable and printable will do.
pub trait CheckId: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static {}
impl<T: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static> CheckId for T {}

/// A change of state of one check, sent on the [`Monitor`]'s channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<K> {
    /// Whose check changed.
    pub id: K,
    /// What was probed.
    pub target: Target,
    /// New state: up, or down.
    pub up: bool,
    /// Check, target and the result that decided it:
    /// `http 198.18.1.2:80: status 503, expected 200`.
    pub cause: String,
    /// When the deciding probe ended (or, for an id that joined a running check, when it
    /// joined).
    pub at: SystemTime,
}

/// Where one check stands, for `lvs-ctl list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status<K> {
    /// The caller's key.
    pub id: K,
    /// What is probed.
    pub target: Target,
    /// Check name (`http`, `connect`, ...).
    pub check: &'static str,
    /// Current state.
    pub state: State,
    /// When the check entered `state` (its start, while unknown).
    pub since: SystemTime,
    /// Cause of the last change of state (empty while unknown).
    pub last_change: String,
    /// Cause of the last failed probe, if the last probe failed.
    pub last_error: Option<String>,
    /// How long the last probe took.
    pub last_duration: Option<Duration>,
    /// When the last probe ended.
    pub last_probe: Option<SystemTime>,
    /// Failed probes since the check started, by [`ProbeError::kind`](super::ProbeError::kind).
    pub failures: BTreeMap<&'static str, u64>,
}

type Key = (Target, CheckSpec);

/// Runs health checks and reports changes of state.
///
/// Must be created and used inside a tokio runtime. Dropping it stops every check (and kills
/// any external check program still running).
pub struct Monitor<K: CheckId> {
    events: mpsc::Sender<Event<K>>,
    probes: HashMap<Key, Probe<K>>,
    /// Wanted checks, in the order last given to [`Monitor::set_checks`].
    wanted: Vec<(K, Key)>,
}

impl<K: CheckId> Monitor<K> {
    /// A monitor with no checks, sending [`Event`]s on `events`.
    pub fn new(events: mpsc::Sender<Event<K>>) -> Self {
        Self {
            events,
            probes: HashMap::new(),
            wanted: Vec::new(),
        }
    }

    /// Makes `wanted` the set of checks. Checks that stay (same id, target and spec) keep their
    /// state and schedule; ids that are new, or whose target or spec changed, start
    /// [`State::Unknown`] unless they join a check already running for another id, in which case
    /// they take its state and are sent an event for it. Identical `(Target, CheckSpec)` pairs
    /// are probed once. An id given twice keeps its last entry.
    pub fn set_checks(&mut self, wanted: Vec<(K, Target, CheckSpec)>) {
        let mut next: Vec<(K, Key)> = Vec::with_capacity(wanted.len());
        let mut index: HashMap<K, usize> = HashMap::with_capacity(wanted.len());
        for (id, target, spec) in wanted {
            match index.get(&id) {
                Some(&i) => next[i].1 = (target, spec),
                None => {
                    index.insert(id.clone(), next.len());
                    next.push((id, (target, spec)));
                }
            }
        }

        // Subscribe new ids first, so that a check merely changing hands (ids renumbered
        // after a service was removed) keeps running and keeps its state.
        let old: HashMap<&K, &Key> = self.wanted.iter().map(|(k, v)| (k, v)).collect();
        for (id, key) in &next {
            if old.get(id) == Some(&key) {
                continue;
            }
            let events = &self.events;
            let probe = self
                .probes
                .entry(key.clone())
                .or_insert_with(|| Probe::start(key.0, key.1.clone(), events.clone()));
            let mut shared = probe.lock();
            // Nothing to tell while the check does not know yet.
            let told = shared.tracker.state() == State::Unknown;
            shared.subscribers.insert(id.clone(), told);
            drop(shared);
            if !told {
                probe.wake.notify_one();
            }
        }

        // Then unsubscribe ids that went away or moved to another check, and stop checks
        // nobody wants any more.
        for (id, key) in &self.wanted {
            let stays = index.get(id).is_some_and(|&i| &next[i].1 == key);
            if stays {
                continue;
            }
            if let Some(probe) = self.probes.get(key) {
                let empty = {
                    let mut shared = probe.lock();
                    shared.subscribers.remove(id);
                    shared.subscribers.is_empty()
                };
                if empty {
                    // Dropping the probe aborts its task.
                    self.probes.remove(key);
                }
            }
        }
        self.wanted = next;
    }

    /// Where every wanted check stands, in the order given to [`Monitor::set_checks`].
    pub fn status(&self) -> Vec<Status<K>> {
        self.wanted
            .iter()
            .filter_map(|(id, key)| {
                let probe = self.probes.get(key)?;
                let s = probe.lock();
                Some(Status {
                    id: id.clone(),
                    target: key.0,
                    check: key.1.kind.name(),
                    state: s.published,
                    since: s.since,
                    last_change: s.last_change.clone(),
                    last_error: s.last_error.clone(),
                    last_duration: s.last_duration,
                    last_probe: s.last_probe,
                    failures: s.failures.clone(),
                })
            })
            .collect()
    }

    /// How many distinct probes run (fewer than wanted checks when some are shared).
    pub fn probe_count(&self) -> usize {
        self.probes.len()
    }
}

/// One running check and what its task shares with the monitor.
struct Probe<K> {
    shared: Arc<Mutex<Shared<K>>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

struct Shared<K> {
    tracker: Tracker,
    /// The state [`Monitor::status`] shows: the tracker's, once every subscriber has been
    /// sent the event of its last change. A caller that handles the events it has received
    /// before reading the status never shows a state it has not acted on.
    published: State,
    since: SystemTime,
    /// Cause of the last change of state, repeated to ids that join later.
    last_change: String,
    last_error: Option<String>,
    last_duration: Option<Duration>,
    last_probe: Option<SystemTime>,
    failures: BTreeMap<&'static str, u64>,
    /// Subscribed ids, each with whether it has been told the current state.
    subscribers: HashMap<K, bool>,
}

impl<K: CheckId> Probe<K> {
    fn start(target: Target, spec: CheckSpec, events: mpsc::Sender<Event<K>>) -> Self {
        let first = jitter(&target, &spec);
        let shared = Arc::new(Mutex::new(Shared {
            tracker: Tracker::new(spec.rise, spec.fall),
            published: State::Unknown,
            since: SystemTime::now(),
            last_change: String::new(),
            last_error: None,
            last_duration: None,
            last_probe: None,
            failures: BTreeMap::new(),
            subscribers: HashMap::new(),
        }));
        let wake = Arc::new(Notify::new());
        let prober = Prober::new(target, spec);
        let task = tokio::spawn(run(
            prober,
            first,
            Arc::clone(&shared),
            Arc::clone(&wake),
            events,
        ));
        Self { shared, wake, task }
    }

    fn lock(&self) -> MutexGuard<'_, Shared<K>> {
        lock(&self.shared)
    }
}

impl<K> Drop for Probe<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The shared state stays consistent even if a holder panicked (every update is a few plain
/// assignments), so a poisoned lock is used as is.
fn lock<K>(shared: &Mutex<Shared<K>>) -> MutexGuard<'_, Shared<K>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Delay before the first probe: spread over `[0, interval)`, the same for the same check on
/// every run, so restarts do not bunch checks up.
fn jitter(target: &Target, spec: &CheckSpec) -> Duration {
    let mut h = DefaultHasher::new();
    target.hash(&mut h);
    spec.hash(&mut h);
    let nanos = spec.interval.as_nanos().max(1);
    let offset = u128::from(h.finish()) % nanos;
    Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
}

/// The task of one check: probe every interval, tell subscribers about changes, and tell ids
/// that joined what they missed.
async fn run<K: CheckId>(
    prober: Prober,
    first: Duration,
    shared: Arc<Mutex<Shared<K>>>,
    wake: Arc<Notify>,
    events: mpsc::Sender<Event<K>>,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + first, prober.spec().interval);
    // A probe that overruns the interval pushes the schedule back rather than firing a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let (mut s, out) = tokio::select! {
            _ = ticks.tick() => {
                let started = Instant::now();
                // Boxed: the probe's future (HTTP and TLS state) exists only while it runs,
                // so an idle check costs a small task, not the largest probe's state.
                let result = Box::pin(prober.probe()).await;
                let took = started.elapsed();
                let now = SystemTime::now();
                if log::log_enabled!(log::Level::Debug) {
                    log::debug!("{} ({:?})", prober.cause(&result), took);
                }
                let mut s = lock(&shared);
                s.last_probe = Some(now);
                s.last_duration = Some(took);
                if let Err(e) = &result {
                    *s.failures.entry(e.kind()).or_default() += 1;
                }
                let changed = s.tracker.record(result.is_ok());
                // The words only when someone reads them: a failure, or a change of state.
                let cause = (result.is_err() || changed.is_some()).then(|| prober.cause(&result));
                s.last_error = result.as_ref().err().and(cause.clone());
                let out: Vec<Event<K>> = match changed.zip(cause) {
                    None => Vec::new(),
                    Some((state, cause)) => {
                        s.since = now;
                        s.last_change.clone_from(&cause);
                        log::debug!("{cause}: now {state}");
                        let up = state == State::Up;
                        s.subscribers
                            .iter_mut()
                            .map(|(id, told)| {
                                *told = true;
                                Event { id: id.clone(), target: prober.target(), up, cause: cause.clone(), at: now }
                            })
                            .collect()
                    }
                };
                (s, out)
            }
            () = wake.notified() => {
                let now = SystemTime::now();
                let mut s = lock(&shared);
                let up = s.tracker.state() == State::Up;
                let cause = s.last_change.clone();
                let out: Vec<Event<K>> = s.subscribers
                    .iter_mut()
                    .filter(|(_, told)| !**told)
                    .map(|(id, told)| {
                        *told = true;
                        Event { id: id.clone(), target: prober.target(), up, cause: cause.clone(), at: now }
                    })
                    .collect();
                (s, out)
            }
        };
        // The events go into the channel while the lock is held, and the state is published
        // under the same lock: whoever reads `status()` after taking its events sees their
        // state, and never a state whose event is not queued yet. A full channel (the
        // receiver is behind) is waited for without the lock; the state is published after.
        let mut later = Vec::new();
        for event in out {
            match events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => later.push(event),
                // A monitor whose receiver is gone keeps checking for status().
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        if later.is_empty() {
            s.published = s.tracker.state();
            continue;
        }
        drop(s);
        for event in later {
            let _ = events.send(event).await;
        }
        let mut s = lock(&shared);
        s.published = s.tracker.state();
    }
}
