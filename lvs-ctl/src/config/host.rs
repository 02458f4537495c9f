//! What [`check_file`](super::check_file) asks of the host it runs on.

use std::ffi::CString;

/// Whether a network interface named `name` exists in this thread's network namespace.
pub fn interface_exists(name: &str) -> bool {
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: a valid C string; if_nametoindex only reads it.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_exists_and_nonsense_does_not() {
        assert!(super::interface_exists("lo"));
        assert!(!super::interface_exists("no-such-if0"));
        assert!(!super::interface_exists("a\0b"));
    }
}
