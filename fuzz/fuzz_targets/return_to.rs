//! Feeds arbitrary strings to the `returnTo` validator: whatever comes in,
//! what comes out is a same-origin path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roq_auth_core::return_to::sanitize_return_to;

fuzz_target!(|data: &[u8]| {
    let Ok(candidate) = std::str::from_utf8(data) else {
        return;
    };
    let path = sanitize_return_to(Some(candidate));

    assert!(path.starts_with('/'), "{path:?}");
    assert!(!path.starts_with("//"), "{path:?}");
    assert!(!path.contains('\\'), "{path:?}");
    assert!(!path.chars().any(char::is_control), "{path:?}");
});
