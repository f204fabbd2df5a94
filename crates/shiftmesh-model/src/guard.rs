//! Automerge on untrusted input. Automerge has panicked on some malformed documents and sync
//! messages (our fuzzing found a division by zero in a peer's bloom filter, and a document that
//! panics in `load`); such a panic must refuse the input, not take down the process.
//! [`guard_panics`] catches it, and while a guarded call runs, [`in_guarded_call`] lets a
//! program's panic hook stay quiet about a panic that is expected and handled.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f`, turning a panic into None.
pub fn guard_panics<T>(f: impl FnOnce() -> T) -> Option<T> {
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result.ok()
}

/// Whether this thread is inside [`guard_panics`] (for a panic hook: the panic will be caught
/// and reported as a refusal of the input).
pub fn in_guarded_call() -> bool {
    GUARDED.with(|g| g.get() > 0)
}

/// Installs a panic hook that says nothing about panics inside [`guard_panics`] and defers to
/// the previous hook for every other.
pub fn quiet_guarded_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !in_guarded_call() {
            previous(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guarded_panic_becomes_none_and_the_guard_is_left() {
        assert_eq!(guard_panics(|| 7), Some(7));
        let caught: Option<()> = guard_panics(|| panic!("malformed"));
        assert_eq!(caught, None);
        assert!(!in_guarded_call());
    }
}
