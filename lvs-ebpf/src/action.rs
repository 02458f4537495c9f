//! What the director does with a packet it does not drop: the typed result the entry point
//! turns into a verdict and a counter.

use lvs_common::Reason;

/// What to do with a packet that is not dropped.
pub enum Action {
    Pass(Reason),
    Tx,
    /// Carries the verdict `bpf_redirect` returned.
    Redirect(u32),
    /// The frame became an ICMP error for the client, sent back out (XDP_TX).
    TooBig,
}
