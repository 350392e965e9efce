//! Process-wide protections taken before any secret is read.

use rustix::process::{set_dumpable_behavior, DumpableBehavior};

/// Makes this process non-dumpable, so that no core file holds the unlocked
/// vault and other processes of the same user cannot ptrace it or read its
/// memory through /proc. Failure is not fatal: the platform may not allow it.
pub fn harden() -> bool {
    set_dumpable_behavior(DumpableBehavior::NotDumpable).is_ok()
}
