//! Validation of the `returnTo` parameter, the page a visitor lands on after
//! signing in or out.
//!
//! Only same-origin relative paths pass. Everything else becomes `/`, because
//! an open redirect on a sign-in page is a phishing tool.

use percent_encoding::percent_decode_str;
use url::Url;

/// Longest `returnTo` kept; a longer one falls back to `/`.
const MAX_LEN: usize = 2048;

/// Returns `candidate` when it is a same-origin path such as
/// `/reports?id=7`, and `/` otherwise.
///
/// Rejected: anything not starting with exactly one `/` (so `//host` and
/// scheme-relative URLs), backslashes, control characters and whitespace, and
/// the percent-encoded forms of `/`, `\` and control characters at the start
/// or anywhere a browser would decode them. A fragment is dropped.
pub fn sanitize_return_to(candidate: Option<&str>) -> String {
    match candidate {
        Some(candidate) if is_safe(candidate) => match normalise(candidate) {
            Some(path) => path,
            None => "/".to_owned(),
        },
        _ => "/".to_owned(),
    }
}

fn is_safe(candidate: &str) -> bool {
    if candidate.is_empty() || candidate.len() > MAX_LEN {
        return false;
    }

    let bytes = candidate.as_bytes();
    if bytes[0] != b'/' || bytes.get(1) == Some(&b'/') {
        return false;
    }
    if candidate
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return false;
    }

    // A proxy or the application may decode a percent-encoded control
    // character or backslash into a header break or a different host. An
    // encoded slash right after the first one becomes `//host` when decoded.
    let decoded = percent_decode(candidate);
    if decoded.chars().any(|c| c == '\\' || c.is_control()) {
        return false;
    }
    let decoded_bytes = decoded.as_bytes();
    decoded_bytes.get(1) != Some(&b'/')
}

/// Resolves the candidate against a placeholder origin and keeps its path
/// and query only if the origin did not change.
fn normalise(candidate: &str) -> Option<String> {
    let base = Url::parse("http://return-to.invalid/").expect("placeholder origin parses");
    let resolved = base.join(candidate).ok()?;
    if resolved.origin() != base.origin() {
        return None;
    }

    // Dot segments can turn a safe path into `//host` once resolved:
    // `/..//evil.example` becomes `//evil.example`.
    if resolved.path().starts_with("//") {
        return None;
    }

    let mut path = resolved.path().to_owned();
    if let Some(query) = resolved.query() {
        path.push('?');
        path.push_str(query);
    }
    Some(path)
}

/// Decodes `%XX` sequences repeatedly, so that double encoding (`%252f`)
/// is seen through as well. Invalid sequences are kept as they are.
fn percent_decode(text: &str) -> String {
    let mut current = text.to_owned();
    for _ in 0..3 {
        let decoded = percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current {
            break;
        }
        current = decoded;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_paths_are_kept() {
        for path in [
            "/",
            "/dashboard",
            "/dashboard?tab=1",
            "/a/b%20c",
            "/reports?id=7&x=%2F",
        ] {
            assert_eq!(sanitize_return_to(Some(path)), path, "{path}");
        }
    }

    #[test]
    fn fragment_is_dropped() {
        assert_eq!(sanitize_return_to(Some("/page#top")), "/page");
    }

    #[test]
    fn hostile_values_fall_back_to_root() {
        let hostile = [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "/%5cevil.example",
            "/%5Cevil.example",
            "https://evil.example",
            "https:evil.example",
            "javascript:alert(1)",
            "/%2f%2fevil.example",
            "/%2F/evil.example",
            "/%252f%252fevil.example",
            "/ok%0d%0aSet-Cookie:%20x=1",
            "/ok\r\nSet-Cookie: x=1",
            "/\tevil",
            " /dashboard",
            "evil.example",
            "",
            "/%00",
        ];
        for value in hostile {
            assert_eq!(
                sanitize_return_to(Some(value)),
                "/",
                "{value:?} was accepted"
            );
        }
    }

    #[test]
    fn missing_or_oversized_value_falls_back_to_root() {
        assert_eq!(sanitize_return_to(None), "/");
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert_eq!(sanitize_return_to(Some(&long)), "/");
    }

    proptest::proptest! {
        #[test]
        fn any_input_yields_a_same_origin_path(input in "\\PC{0,200}|/[\\x00-\\x7f]{0,100}") {
            let path = sanitize_return_to(Some(&input));
            proptest::prop_assert!(path.starts_with('/'), "{path:?}");
            proptest::prop_assert!(!path.starts_with("//"), "{path:?}");
            proptest::prop_assert!(!path.contains('\\'), "{path:?}");
            proptest::prop_assert!(!path.chars().any(char::is_control), "{path:?}");
        }
    }

    #[test]
    fn dot_segments_cannot_leave_the_origin() {
        assert_eq!(sanitize_return_to(Some("/a/../../b")), "/b");
        assert_eq!(sanitize_return_to(Some("/./dashboard")), "/dashboard");
        assert_eq!(sanitize_return_to(Some("/..//y")), "/");
        assert_eq!(sanitize_return_to(Some("/a/..//evil.example")), "/");
        assert_eq!(sanitize_return_to(Some("/%2e%2e//evil.example")), "/");
    }
}
