use super::*;
use crate::test_support::{messages_and_targets, tokens};

const UNKNOWN_PREFIX: &str = "expected `redirect_to = \"/path\"` or `redirect_if_authenticated`";

/// Parses `source` as the arguments of `kind`, returning the options and
/// each error as (message, text pointed at).
fn parse(kind: MacroKind, source: &str) -> (Options, Vec<(String, String)>) {
    let mut errors = Errors::default();
    let options = parse_options(kind, tokens(source), &mut errors);
    let errors = errors
        .into_error()
        .map(messages_and_targets)
        .unwrap_or_default();
    (options, errors)
}

fn parse_ok(kind: MacroKind, source: &str) -> (Option<String>, bool) {
    let (options, errors) = parse(kind, source);
    assert_eq!(errors, [], "unexpected errors for `{source}`");
    (
        options.redirect_to.map(|path| path.value()),
        options.redirect_if_authenticated,
    )
}

/// Parses `source` as `#[require_auth]` arguments that contain exactly one
/// error, and returns its message and the text it points at.
fn single_error(kind: MacroKind, source: &str) -> (String, String) {
    let (_, mut errors) = parse(kind, source);
    assert_eq!(
        errors.len(),
        1,
        "expected one error for `{source}`, got {errors:?}"
    );
    errors.remove(0)
}

fn require_auth_error(source: &str) -> (String, String) {
    single_error(MacroKind::RequireAuth, source)
}

fn with_auth_error(source: &str) -> (String, String) {
    single_error(MacroKind::WithAuth, source)
}

#[test]
fn require_auth_accepted_forms() {
    let cases: [(&str, (Option<&str>, bool)); 8] = [
        ("", (None, false)),
        (r#"redirect_to = "/signin""#, (Some("/signin"), false)),
        (r#"redirect_to = "/signin","#, (Some("/signin"), false)),
        (r##"redirect_to = r#"/a?b=1"#"##, (Some("/a?b=1"), false)),
        ("redirect_if_authenticated", (None, true)),
        (
            r#"redirect_if_authenticated, redirect_to = "/dashboard""#,
            (Some("/dashboard"), true),
        ),
        (
            r#"redirect_to = "/dashboard", redirect_if_authenticated"#,
            (Some("/dashboard"), true),
        ),
        (
            r#"redirect_to = "/dashboard", redirect_if_authenticated,"#,
            (Some("/dashboard"), true),
        ),
    ];

    for (source, (redirect_to, redirect_if_authenticated)) in cases {
        let parsed = parse_ok(MacroKind::RequireAuth, source);
        let expected = (redirect_to.map(str::to_owned), redirect_if_authenticated);
        assert_eq!(parsed, expected, "options of `{source}`");
    }
}

#[test]
fn with_auth_accepts_no_arguments() {
    assert_eq!(parse_ok(MacroKind::WithAuth, ""), (None, false));
}

#[test]
fn unknown_option_suggests_near_miss() {
    let (message, target) = require_auth_error(r#"redirectTo = "/signin""#);

    assert_eq!(
        message,
        format!("unknown option `redirectTo`, {UNKNOWN_PREFIX}. Did you mean `redirect_to`?")
    );
    assert_eq!(target, "redirectTo");
}

#[test]
fn unknown_flag_suggests_near_miss() {
    let (message, target) = require_auth_error("redirect_if_authed");

    assert_eq!(
        message,
        format!(
            "unknown option `redirect_if_authed`, {UNKNOWN_PREFIX}. \
             Did you mean `redirect_if_authenticated`?"
        )
    );
    assert_eq!(target, "redirect_if_authed");
}

#[test]
fn unknown_option_without_near_miss() {
    let (message, target) = require_auth_error("cache");

    assert_eq!(message, format!("unknown option `cache`, {UNKNOWN_PREFIX}"));
    assert_eq!(target, "cache");
}

#[test]
fn unknown_keyword_option() {
    let (message, target) = require_auth_error("type");

    assert_eq!(message, format!("unknown option `type`, {UNKNOWN_PREFIX}"));
    assert_eq!(target, "type");
}

#[test]
fn bare_path_suggests_redirect_to() {
    let (message, target) = require_auth_error(r#""/signin""#);

    assert_eq!(
        message,
        format!(
            "{UNKNOWN_PREFIX}. To set where visitors are sent, write `redirect_to = \"/signin\"`"
        )
    );
    assert_eq!(target, r#""/signin""#);
}

#[test]
fn stray_punctuation_uses_lookahead() {
    let (message, target) = require_auth_error(r#", redirect_to = "/signin""#);

    assert_eq!(
        message,
        "expected `redirect_to` or `redirect_if_authenticated`"
    );
    assert_eq!(target, ",");
}

#[test]
fn repeated_redirect_to_points_at_second() {
    let source = r#"redirect_to = "/a", redirect_to = "/b""#;
    let (options, errors) = parse(MacroKind::RequireAuth, source);

    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "`redirect_to` is given more than once");
    assert_eq!(errors[0].1, "redirect_to");
    // The second keyword starts after `redirect_to = "/a", `.
    let column = tokens(source)
        .into_iter()
        .nth(4)
        .expect("second keyword")
        .span()
        .start()
        .column;
    assert_eq!(column, 20);
    assert_eq!(
        options.redirect_to.map(|path| path.value()).as_deref(),
        Some("/a")
    );
}

#[test]
fn repeated_flag_is_rejected() {
    let (message, target) =
        require_auth_error("redirect_if_authenticated, redirect_if_authenticated");

    assert_eq!(
        message,
        "`redirect_if_authenticated` is given more than once"
    );
    assert_eq!(target, "redirect_if_authenticated");
}

#[test]
fn redirect_to_identifier_value() {
    let (message, target) = require_auth_error("redirect_to = login");

    assert_eq!(
        message,
        "`redirect_to` must be a string literal such as `\"/signin\"`. \
         Constants, macros and other expressions are not supported"
    );
    assert_eq!(target, "login");
}

#[test]
fn redirect_to_macro_value() {
    let (message, target) = require_auth_error(r#"redirect_to = concat!("/a", "/b")"#);

    assert!(
        message.starts_with("`redirect_to` must be a string literal"),
        "{message}"
    );
    assert_eq!(target, r#"concat!("/a", "/b")"#);
}

#[test]
fn redirect_to_wrong_literal_kinds() {
    let cases = [
        ("5", "an integer literal"),
        ("true", "a boolean literal"),
        (r#"b"/signin""#, "a byte string literal"),
        ("'/'", "a character literal"),
    ];

    for (value, kind) in cases {
        let (message, target) = require_auth_error(&format!("redirect_to = {value}"));
        assert_eq!(
            message,
            format!("`redirect_to` must be a string literal such as `\"/signin\"`, found {kind}")
        );
        assert_eq!(target, value);
    }
}

#[test]
fn redirect_to_without_value() {
    let (message, target) = require_auth_error("redirect_to");

    assert_eq!(
        message,
        "`redirect_to` needs a value, such as `redirect_to = \"/signin\"`"
    );
    assert_eq!(target, "redirect_to");
}

#[test]
fn redirect_to_called_like_function() {
    let (message, target) = require_auth_error(r#"redirect_to("/signin")"#);

    assert_eq!(
        message,
        "`redirect_to` needs a value, such as `redirect_to = \"/signin\"`"
    );
    assert_eq!(target, "redirect_to");
}

#[test]
fn redirect_to_without_value_after_equals() {
    let (message, target) = require_auth_error("redirect_to =, redirect_if_authenticated");

    assert_eq!(
        message,
        "expected a string literal after `redirect_to =`, such as `\"/signin\"`"
    );
    assert_eq!(target, "=");
}

#[test]
fn redirect_to_with_suffix() {
    let (message, target) = require_auth_error(r#"redirect_to = "/signin"px"#);

    assert_eq!(
        message,
        "`redirect_to` does not accept a suffix on the string literal"
    );
    assert_eq!(target, r#""/signin"px"#);
}

#[test]
fn redirect_to_invalid_path_points_at_literal() {
    let (message, target) = require_auth_error(r#"redirect_to = "https://evil.example""#);

    assert_eq!(
        message,
        "`redirect_to` must be a path on this site such as \"/signin\", \
         not a URL with the `https:` scheme"
    );
    assert_eq!(target, r#""https://evil.example""#);
}

#[test]
fn invalid_path_still_counts_for_repeats() {
    let (options, errors) = parse(
        MacroKind::RequireAuth,
        r#"redirect_to = "//evil", redirect_to = "/ok""#,
    );

    let messages: Vec<&str> = errors.iter().map(|(message, _)| message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("must not start with `//`"),
        "{}",
        messages[0]
    );
    assert_eq!(messages[1], "`redirect_to` is given more than once");
    assert_eq!(
        options.redirect_to.map(|path| path.value()).as_deref(),
        Some("/ok")
    );
}

#[test]
fn flag_with_value() {
    for value in [r#""yes""#, "true"] {
        let (message, target) = require_auth_error(&format!("redirect_if_authenticated = {value}"));

        assert_eq!(
            message,
            "`redirect_if_authenticated` takes no value. \
             Write `redirect_if_authenticated` alone to turn it on, or leave it out"
        );
        assert_eq!(target, value);
    }
}

#[test]
fn flag_with_parenthesized_value() {
    let (message, target) = require_auth_error("redirect_if_authenticated(true)");

    assert!(
        message.starts_with("`redirect_if_authenticated` takes no value"),
        "{message}"
    );
    assert_eq!(target, "(true)");
}

#[test]
fn all_errors_are_reported() {
    let source = r#"redirectTo = "/a", redirect_to = 5, redirect_if_authenticated = "yes", redirect_to = "/ok""#;
    let (options, errors) = parse(MacroKind::RequireAuth, source);

    let targets: Vec<&str> = errors.iter().map(|(_, target)| target.as_str()).collect();
    assert_eq!(targets, ["redirectTo", "5", r#""yes""#, "redirect_to"]);
    assert_eq!(errors[3].0, "`redirect_to` is given more than once");
    assert_eq!(
        options.redirect_to.map(|path| path.value()).as_deref(),
        Some("/ok")
    );
}

#[test]
fn wrong_kind_still_counts_for_repeats() {
    let (_, errors) = parse(
        MacroKind::RequireAuth,
        r#"redirect_to = login, redirect_to = "/ok""#,
    );

    let targets: Vec<&str> = errors.iter().map(|(_, target)| target.as_str()).collect();
    assert_eq!(targets, ["login", "redirect_to"]);
}

#[test]
fn options_after_error_still_parse() {
    let (options, errors) = parse(
        MacroKind::RequireAuth,
        r#"cache, redirect_to = "/ok", redirect_if_authenticated"#,
    );

    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        options.redirect_to.map(|path| path.value()).as_deref(),
        Some("/ok")
    );
    assert!(options.redirect_if_authenticated);
}

#[test]
fn with_auth_rejects_redirect_to() {
    let (message, target) = with_auth_error(r#"redirect_to = "/signin""#);

    assert_eq!(
        message,
        "`redirect_to` is an option of `#[require_auth]`, not of `#[with_auth]`. \
         `#[with_auth]` takes no options because it rejects signed-out callers \
         with 401 Unauthorized instead of redirecting"
    );
    assert_eq!(target, "redirect_to");
}

#[test]
fn with_auth_rejects_flag() {
    let (message, target) = with_auth_error("redirect_if_authenticated");

    assert!(
        message.starts_with(
            "`redirect_if_authenticated` is an option of `#[require_auth]`, not of `#[with_auth]`."
        ),
        "{message}"
    );
    assert_eq!(target, "redirect_if_authenticated");
}

#[test]
fn with_auth_rejects_other_arguments() {
    let (message, target) = with_auth_error("cache");
    assert_eq!(message, "`#[with_auth]` takes no options, found `cache`");
    assert_eq!(target, "cache");

    let (message, target) = with_auth_error(r#""/signin""#);
    assert_eq!(
        message,
        "`#[with_auth]` takes no options, found `\"/signin\"`"
    );
    assert_eq!(target, r#""/signin""#);
}

#[test]
fn with_auth_reports_each_option() {
    let (_, errors) = parse(
        MacroKind::WithAuth,
        r#"redirect_to = "/a", redirect_if_authenticated"#,
    );

    let targets: Vec<&str> = errors.iter().map(|(_, target)| target.as_str()).collect();
    assert_eq!(targets, ["redirect_to", "redirect_if_authenticated"]);
}

#[test]
fn suggestions_for_near_misses() {
    let cases = [
        ("redirectTo", Some("redirect_to")),
        ("REDIRECT_TO", Some("redirect_to")),
        ("redirct_to", Some("redirect_to")),
        ("redirect", Some("redirect_to")),
        ("redirect_url", Some("redirect_to")),
        ("login_path", Some("redirect_to")),
        ("returnTo", Some("redirect_to")),
        ("redirectIfAuthenticated", Some("redirect_if_authenticated")),
        (
            "redirect_if_authenticted",
            Some("redirect_if_authenticated"),
        ),
        ("redirect_if_authed", Some("redirect_if_authenticated")),
        ("redirect_if_logged_in", Some("redirect_if_authenticated")),
        ("if_authenticated", Some("redirect_if_authenticated")),
        ("cache", None),
        ("to", None),
        ("type", None),
    ];

    for (written, expected) in cases {
        assert_eq!(
            suggest_option(written),
            expected,
            "suggestion for `{written}`"
        );
    }
}

#[test]
fn edit_distance_counts_chars() {
    assert_eq!(edit_distance("", ""), 0);
    assert_eq!(edit_distance("abc", ""), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("é", "e"), 1);
}

#[test]
fn valid_redirect_paths() {
    for path in [
        "/",
        "/signin",
        "/a/b?c=d&e=%20#top",
        "/foo:bar",
        "/~user",
        "/./x",
    ] {
        assert_eq!(validate_redirect_path(path), Ok(()), "path {path:?}");
    }
}

#[test]
fn invalid_redirect_paths() {
    let cases = [
        (
            "",
            "`redirect_to` must not be empty. Use a path such as \"/signin\"",
        ),
        (
            "signin",
            "`redirect_to` must be a path that starts with `/`, such as \"/signin\"",
        ),
        (
            "./signin",
            "`redirect_to` must be a path that starts with `/`, such as \"/signin\"",
        ),
        (
            "?next=1",
            "`redirect_to` must be a path that starts with `/`, such as \"/?next=1\"",
        ),
        (
            "//evil.example",
            "`redirect_to` must not start with `//`, because browsers read \"//host/path\" \
             as a URL on another host",
        ),
        (
            "/\\evil.example",
            "`redirect_to` must not contain `\\`, because browsers read it as `/` \
             and \"/\\host\" would leave the site",
        ),
        (
            "/a\\b",
            "`redirect_to` must not contain `\\`, because browsers read it as `/` \
             and \"/\\host\" would leave the site",
        ),
        (
            "https://evil.example/",
            "`redirect_to` must be a path on this site such as \"/signin\", \
             not a URL with the `https:` scheme",
        ),
        (
            "javascript:alert(1)",
            "`redirect_to` must be a path on this site such as \"/signin\", \
             not a URL with the `javascript:` scheme",
        ),
        (
            "/a b",
            "`redirect_to` must not contain whitespace or control characters, found ' '. \
             Percent-encode it as %20 if the path needs it",
        ),
        (
            "/\t/evil.example",
            "`redirect_to` must not contain whitespace or control characters, found '\\t'. \
             Percent-encode it as %09 if the path needs it",
        ),
        (
            "/a\r\nSet-Cookie: x=1",
            "`redirect_to` must not contain whitespace or control characters, found '\\r'. \
             Percent-encode it as %0D if the path needs it",
        ),
        (
            "/\u{7f}",
            "`redirect_to` must not contain whitespace or control characters, found '\\u{7f}'. \
             Percent-encode it as %7F if the path needs it",
        ),
        (
            "/a\u{a0}b",
            "`redirect_to` must not contain whitespace or control characters, found '\\u{a0}'. \
             Percent-encode it as %C2%A0 if the path needs it",
        ),
        (
            "/café",
            "`redirect_to` must be ASCII because it is sent in the Location header, found 'é'. \
             Percent-encode it as %C3%A9",
        ),
    ];

    for (path, reason) in cases {
        assert_eq!(
            validate_redirect_path(path),
            Err(reason.to_owned()),
            "path {path:?}"
        );
    }
}
