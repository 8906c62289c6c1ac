//! Turns a panic inside tract into an error.
//!
//! tract trusts the graph it is handed: a malformed ONNX file (a conv whose attributes do not
//! match its rank, say; found by fuzzing) can make it index out of bounds while loading or
//! optimising. A bundle is user input, so such a file must be an error that names it, not a
//! crash. [`guarded`] runs a closure under `catch_unwind`; while it runs, the process's panic
//! hook is skipped on this thread, so no "thread panicked" text reaches the user and a hook that
//! aborts (libFuzzer's) does not fire for a panic that is handled.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Wraps the current panic hook (once per process) so that it stays silent on a thread that is
/// inside [`guarded`].
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic in it comes back as `Err` with the panic's message.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(guarded(|| 7), Ok(7));
        let v: Vec<usize> = vec![1];
        let err = guarded(|| v[std::hint::black_box(1)]).unwrap_err();
        assert!(err.contains("index out of bounds"), "{err}");
        let err = guarded(|| -> () { panic!("bad graph {}", 3) }).unwrap_err();
        assert_eq!(err, "bad graph 3");
        // Nested guards restore the outer state.
        assert_eq!(guarded(|| guarded(|| 1).unwrap() + 1), Ok(2));
    }
}
