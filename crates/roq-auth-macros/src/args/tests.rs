use quote::ToTokens;

use super::suggest::edit_distance;
use super::*;
use crate::test_support::{messages_and_targets, tokens};

const REQUIRE_AUTH_FORMS: &str = "`redirect_to = \"/path\"`, `redirect_if_authenticated`, \
                                  `role = \"name\"`, `scope = \"name\"` or `check = path::to::fn`";
const WITH_AUTH_FORMS: &str = "`role = \"name\"`, `scope = \"name\"` or `check = path::to::fn`";

/// The options of one invocation as plain values, for comparisons.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    redirect_to: Option<String>,
    redirect_if_authenticated: bool,
    role: Option<String>,
    scope: Option<String>,
    check: Option<String>,
}

impl From<Options> for Parsed {
    fn from(options: Options) -> Parsed {
        Parsed {
            redirect_to: options.redirect_to.map(|path| path.value()),
            redirect_if_authenticated: options.redirect_if_authenticated,
            role: options.role.map(|role| role.value()),
            scope: options.scope.map(|scope| scope.value()),
            check: options.check.map(|path| path.to_token_stream().to_string()),
        }
    }
}

/// Parses `source` as the arguments of `kind`, returning the options and
/// each error as (message, text pointed at).
fn parse(kind: MacroKind, source: &str) -> (Parsed, Vec<(String, String)>) {
    let mut errors = Errors::default();
    let options = parse_options(kind, tokens(source), &mut errors);
    let errors = errors
        .into_error()
        .map(messages_and_targets)
        .unwrap_or_default();
    (options.into(), errors)
}

fn parse_ok(kind: MacroKind, source: &str) -> Parsed {
    let (options, errors) = parse(kind, source);
    assert_eq!(errors, [], "unexpected errors for `{source}`");
    options
}

/// Parses `source` as arguments of `kind` that contain exactly one error,
/// and returns its message and the text it points at.
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

fn targets(errors: &[(String, String)]) -> Vec<&str> {
    errors.iter().map(|(_, target)| target.as_str()).collect()
}

#[test]
fn require_auth_redirect_forms() {
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
        let expected = Parsed {
            redirect_to: redirect_to.map(str::to_owned),
            redirect_if_authenticated,
            ..Parsed::default()
        };
        assert_eq!(
            parse_ok(MacroKind::RequireAuth, source),
            expected,
            "options of `{source}`"
        );
    }
}

#[test]
fn authorization_options_on_both_macros() {
    let source = r#"role = "admin", scope = "reports:read", check = crate::rules::is_staff"#;
    let expected = Parsed {
        role: Some("admin".to_owned()),
        scope: Some("reports:read".to_owned()),
        check: Some("crate :: rules :: is_staff".to_owned()),
        ..Parsed::default()
    };

    assert_eq!(parse_ok(MacroKind::RequireAuth, source), expected);
    assert_eq!(parse_ok(MacroKind::WithAuth, source), expected);
}

#[test]
fn authorization_beside_redirect_to() {
    let parsed = parse_ok(
        MacroKind::RequireAuth,
        r#"check = is_staff, redirect_to = "/signin", role = "Domain Admins""#,
    );

    assert_eq!(parsed.redirect_to.as_deref(), Some("/signin"));
    assert_eq!(parsed.role.as_deref(), Some("Domain Admins"));
    assert_eq!(parsed.check.as_deref(), Some("is_staff"));
}

#[test]
fn check_accepts_qualified_paths() {
    for path in [
        "is_staff",
        "::app::rules::is_staff",
        "self::is_staff",
        "super::rules::is_staff",
        "Rules::is_staff",
        "<Rules as Rule>::allows",
    ] {
        let parsed = parse_ok(MacroKind::WithAuth, &format!("check = {path}"));
        let expected: ExprPath = syn::parse_str(path).expect("test path should parse");
        assert_eq!(
            parsed.check,
            Some(expected.to_token_stream().to_string()),
            "path `{path}`"
        );
    }
}

#[test]
fn with_auth_accepts_no_arguments() {
    assert_eq!(parse_ok(MacroKind::WithAuth, ""), Parsed::default());
}

#[test]
fn accepted_forms_per_macro() {
    assert_eq!(MacroKind::RequireAuth.accepted_forms(), REQUIRE_AUTH_FORMS);
    assert_eq!(MacroKind::WithAuth.accepted_forms(), WITH_AUTH_FORMS);
}

#[test]
fn unknown_option_suggests_near_miss() {
    let (message, target) = require_auth_error(r#"redirectTo = "/signin""#);

    assert_eq!(
        message,
        format!(
            "unknown option `redirectTo`, expected {REQUIRE_AUTH_FORMS}. \
             Did you mean `redirect_to`?"
        )
    );
    assert_eq!(target, "redirectTo");
}

#[test]
fn unknown_flag_suggests_near_miss() {
    let (message, target) = require_auth_error("redirect_if_authed");

    assert_eq!(
        message,
        format!(
            "unknown option `redirect_if_authed`, expected {REQUIRE_AUTH_FORMS}. \
             Did you mean `redirect_if_authenticated`?"
        )
    );
    assert_eq!(target, "redirect_if_authed");
}

#[test]
fn unknown_option_on_with_auth_suggests_its_own() {
    let (message, target) = with_auth_error(r#"roles = "admin""#);

    assert_eq!(
        message,
        format!("unknown option `roles`, expected {WITH_AUTH_FORMS}. Did you mean `role`?")
    );
    assert_eq!(target, "roles");
}

#[test]
fn unknown_option_on_with_auth_names_other_macro() {
    let (message, target) = with_auth_error(r#"redirectTo = "/signin""#);

    assert_eq!(
        message,
        format!(
            "unknown option `redirectTo`, expected {WITH_AUTH_FORMS}. \
             `redirect_to`, which it resembles, is an option of `#[require_auth]` only"
        )
    );
    assert_eq!(target, "redirectTo");
}

#[test]
fn unknown_option_without_near_miss() {
    let (message, target) = require_auth_error("cache");

    assert_eq!(
        message,
        format!("unknown option `cache`, expected {REQUIRE_AUTH_FORMS}")
    );
    assert_eq!(target, "cache");
}

#[test]
fn unknown_keyword_option() {
    let (message, target) = require_auth_error("type");

    assert_eq!(
        message,
        format!("unknown option `type`, expected {REQUIRE_AUTH_FORMS}")
    );
    assert_eq!(target, "type");
}

#[test]
fn bare_path_suggests_redirect_to() {
    let (message, target) = require_auth_error(r#""/signin""#);

    assert_eq!(
        message,
        format!(
            "expected {REQUIRE_AUTH_FORMS}. \
             To set where visitors are sent, write `redirect_to = \"/signin\"`"
        )
    );
    assert_eq!(target, r#""/signin""#);
}

#[test]
fn bare_string_on_with_auth() {
    let (message, target) = with_auth_error(r#""admin""#);

    assert_eq!(
        message,
        format!("expected {WITH_AUTH_FORMS}, found `\"admin\"`")
    );
    assert_eq!(target, r#""admin""#);
}

#[test]
fn stray_punctuation_lists_forms() {
    let (message, target) = require_auth_error(r#", redirect_to = "/signin""#);

    assert_eq!(message, format!("expected {REQUIRE_AUTH_FORMS}, found `,`"));
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
    assert_eq!(options.redirect_to.as_deref(), Some("/a"));
}

#[test]
fn repeated_options_are_rejected() {
    let cases = [
        "redirect_if_authenticated, redirect_if_authenticated",
        r#"role = "admin", role = "editor""#,
        r#"scope = "a", scope = "b""#,
        "check = a, check = b",
    ];

    for source in cases {
        let (message, target) = require_auth_error(source);
        assert_eq!(
            message,
            format!("`{target}` is given more than once"),
            "`{source}`"
        );
        assert!(
            source.starts_with(&target),
            "`{source}` points at `{target}`"
        );
    }
}

#[test]
fn repeated_role_keeps_first() {
    let (options, errors) = parse(MacroKind::WithAuth, r#"role = "admin", role = "editor""#);

    assert_eq!(targets(&errors), ["role"]);
    assert_eq!(options.role.as_deref(), Some("admin"));
}

#[test]
fn wrong_value_kinds() {
    let cases = [
        (
            "redirect_to = login",
            "`redirect_to` must be a string literal, as in `redirect_to = \"/signin\"`. \
             Constants, macros and other expressions are not supported",
            "login",
        ),
        (
            "role = admin",
            "`role` must be a string literal, as in `role = \"admin\"`. \
             Constants, macros and other expressions are not supported",
            "admin",
        ),
        (
            "scope = 5",
            "`scope` must be a string literal, as in `scope = \"reports:read\"`, \
             found an integer literal",
            "5",
        ),
        (
            r#"role = concat!("ad", "min")"#,
            "`role` must be a string literal, as in `role = \"admin\"`. \
             Constants, macros and other expressions are not supported",
            r#"concat!("ad", "min")"#,
        ),
    ];

    for (source, expected, expected_target) in cases {
        let (message, target) = require_auth_error(source);
        assert_eq!(message, expected, "`{source}`");
        assert_eq!(target, expected_target, "`{source}`");
    }
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
            format!(
                "`redirect_to` must be a string literal, as in `redirect_to = \"/signin\"`, \
                 found {kind}"
            )
        );
        assert_eq!(target, value);
    }
}

#[test]
fn options_without_value() {
    let cases = [
        (
            "redirect_to",
            "`redirect_to` needs a value, such as `redirect_to = \"/signin\"`",
        ),
        ("role", "`role` needs a value, such as `role = \"admin\"`"),
        (
            "scope",
            "`scope` needs a value, such as `scope = \"reports:read\"`",
        ),
        ("check", "`check` needs a value, such as `check = is_admin`"),
    ];

    for (source, expected) in cases {
        let (message, target) = require_auth_error(source);
        assert_eq!(message, expected);
        assert_eq!(target, source);
    }
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
fn option_without_value_after_equals() {
    let (message, target) = require_auth_error("redirect_to =, redirect_if_authenticated");
    assert_eq!(
        message,
        "expected a value after `redirect_to =`, such as `\"/signin\"`"
    );
    assert_eq!(target, "=");

    let (message, target) = with_auth_error("check =");
    assert_eq!(
        message,
        "expected a value after `check =`, such as `is_admin`"
    );
    assert_eq!(target, "=");
}

#[test]
fn string_with_suffix() {
    let (message, target) = require_auth_error(r#"redirect_to = "/signin"px"#);
    assert_eq!(
        message,
        "`redirect_to` does not accept a suffix on the string literal"
    );
    assert_eq!(target, r#""/signin"px"#);

    let (message, _) = with_auth_error(r#"role = "admin"x"#);
    assert_eq!(
        message,
        "`role` does not accept a suffix on the string literal"
    );
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
    assert_eq!(options.redirect_to.as_deref(), Some("/ok"));
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
fn invalid_roles() {
    let cases = [
        (
            r#""""#,
            "`role` must not be empty. Name a role, such as \"admin\"",
        ),
        (
            r#"" admin""#,
            "`role` must not start or end with whitespace, because roles are compared \
             exactly. Write \"admin\"",
        ),
        (
            r#""ad\u{7}min""#,
            "`role` must not contain control characters, found '\\u{7}'",
        ),
    ];

    for (value, expected) in cases {
        let (message, target) = with_auth_error(&format!("role = {value}"));
        assert_eq!(message, expected, "role {value}");
        assert_eq!(target, value);
    }
}

#[test]
fn valid_scopes() {
    for scope in [
        "reports:read",
        "openid",
        "https://api.example/x.y",
        "a!#[]~",
    ] {
        let parsed = parse_ok(MacroKind::WithAuth, &format!("scope = {scope:?}"));
        assert_eq!(parsed.scope.as_deref(), Some(scope));
    }
}

#[test]
fn invalid_scopes() {
    let several = "`scope` must be a single scope, such as \"reports:read\", without whitespace. \
                   To require several scopes, write a `check` function that calls `has_scope` \
                   for each";
    let cases = [
        (
            r#""""#,
            "`scope` must not be empty. Name a scope, such as \"reports:read\"".to_owned(),
        ),
        (r#""reports:read reports:write""#, several.to_owned()),
        (r#""reports\tread""#, several.to_owned()),
        (
            r#""say\"hi""#,
            "`scope` may contain only visible ASCII characters other than `\"` and `\\` \
             (RFC 6749, section 3.3), found '\"'"
                .to_owned(),
        ),
        (
            r#""a\\b""#,
            "`scope` may contain only visible ASCII characters other than `\"` and `\\` \
             (RFC 6749, section 3.3), found '\\\\'"
                .to_owned(),
        ),
        (
            r#""café""#,
            "`scope` may contain only visible ASCII characters other than `\"` and `\\` \
             (RFC 6749, section 3.3), found 'é'"
                .to_owned(),
        ),
    ];

    for (value, expected) in cases {
        let (message, target) = require_auth_error(&format!("scope = {value}"));
        assert_eq!(message, expected, "scope {value}");
        assert_eq!(target, value);
    }
}

#[test]
fn check_with_string_suggests_path() {
    let (message, target) = with_auth_error(r#"check = "rules::is_staff""#);

    assert_eq!(
        message,
        "`check` takes the path of a function `fn(&User) -> bool`, as in `check = is_admin`, \
         not a string. Write the path without quotes: `check = rules::is_staff`"
    );
    assert_eq!(target, r#""rules::is_staff""#);

    let (message, _) = with_auth_error(r#"check = "is staff""#);
    assert_eq!(
        message,
        "`check` takes the path of a function `fn(&User) -> bool`, as in `check = is_admin`, \
         not a string"
    );
}

#[test]
fn check_with_expression() {
    let usage = "`check` takes the path of a function `fn(&User) -> bool`, as in \
                 `check = is_admin`. Closures, calls and other expressions are not supported, \
                 so write the rule as a function and name it here";

    for value in [
        "|user| user.sub == \"alice\"",
        "is_admin()",
        "5",
        "rules::is_admin!",
    ] {
        let (message, target) = require_auth_error(&format!("check = {value}"));
        assert_eq!(message, usage, "check = {value}");
        assert_eq!(target, value);
    }
}

#[test]
fn check_rejects_self_path() {
    let (message, target) = with_auth_error("check = Self::is_admin");

    assert_eq!(
        message,
        "`check` takes the path of a function `fn(&User) -> bool`, as in `check = is_admin`. \
         `Self` is not supported here: name the type, as in `check = Rules::is_admin`"
    );
    assert_eq!(target, "Self::is_admin");
}

#[test]
fn authorization_conflicts_with_flag() {
    let source = r#"redirect_if_authenticated, role = "admin", scope = "a", check = f"#;
    let (options, errors) = parse(MacroKind::RequireAuth, source);

    assert_eq!(targets(&errors), ["role", "scope", "check"]);
    assert_eq!(
        errors[0].0,
        "`role` cannot be combined with `redirect_if_authenticated`, because that handler \
         serves only signed-out visitors, who have no session to check. \
         Remove `role`, or remove `redirect_if_authenticated`"
    );
    assert!(
        errors[2].0.starts_with("`check` cannot be combined"),
        "{}",
        errors[2].0
    );
    assert!(options.redirect_if_authenticated);
}

#[test]
fn conflict_is_found_whatever_the_order() {
    let (_, errors) = parse(
        MacroKind::RequireAuth,
        r#"scope = "a", redirect_to = "/x", redirect_if_authenticated"#,
    );

    assert_eq!(targets(&errors), ["scope"]);
}

#[test]
fn invalid_value_still_conflicts() {
    let (_, errors) = parse(
        MacroKind::RequireAuth,
        "role = admin, redirect_if_authenticated",
    );

    assert_eq!(targets(&errors), ["admin", "role"]);
}

#[test]
fn all_errors_are_reported() {
    let source = r#"redirectTo = "/a", redirect_to = 5, redirect_if_authenticated = "yes", redirect_to = "/ok", scope = "a b""#;
    let (options, errors) = parse(MacroKind::RequireAuth, source);

    // The flag counts as given despite its value, so `scope` conflicts with it.
    assert_eq!(
        targets(&errors),
        [
            "redirectTo",
            "5",
            r#""yes""#,
            "redirect_to",
            r#""a b""#,
            "scope"
        ]
    );
    assert_eq!(errors[3].0, "`redirect_to` is given more than once");
    assert_eq!(options.redirect_to.as_deref(), Some("/ok"));
}

#[test]
fn wrong_kind_still_counts_for_repeats() {
    let (_, errors) = parse(
        MacroKind::RequireAuth,
        r#"redirect_to = login, redirect_to = "/ok""#,
    );

    assert_eq!(targets(&errors), ["login", "redirect_to"]);
}

#[test]
fn options_after_error_still_parse() {
    let (options, errors) = parse(
        MacroKind::RequireAuth,
        r#"cache, redirect_to = "/ok", role = "admin""#,
    );

    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(options.redirect_to.as_deref(), Some("/ok"));
    assert_eq!(options.role.as_deref(), Some("admin"));
}

#[test]
fn with_auth_rejects_redirect_to() {
    let (message, target) = with_auth_error(r#"redirect_to = "/signin""#);

    assert_eq!(
        message,
        format!(
            "`redirect_to` is an option of `#[require_auth]`, not of `#[with_auth]`, which \
             rejects signed-out callers with 401 Unauthorized instead of redirecting. \
             `#[with_auth]` accepts {WITH_AUTH_FORMS}"
        )
    );
    assert_eq!(target, "redirect_to");
}

#[test]
fn with_auth_rejects_flag() {
    let (message, target) = with_auth_error("redirect_if_authenticated");

    assert!(
        message.starts_with(
            "`redirect_if_authenticated` is an option of `#[require_auth]`, not of `#[with_auth]`"
        ),
        "{message}"
    );
    assert_eq!(target, "redirect_if_authenticated");
}

#[test]
fn with_auth_reports_each_option() {
    let (options, errors) = parse(
        MacroKind::WithAuth,
        r#"redirect_to = "/a", redirect_if_authenticated, role = "admin""#,
    );

    assert_eq!(
        targets(&errors),
        ["redirect_to", "redirect_if_authenticated"]
    );
    assert_eq!(options.role.as_deref(), Some("admin"));
}

#[test]
fn suggestions_for_near_misses() {
    use OptionName::*;

    let cases = [
        ("redirectTo", Some(RedirectTo)),
        ("REDIRECT_TO", Some(RedirectTo)),
        ("redirct_to", Some(RedirectTo)),
        ("redirect", Some(RedirectTo)),
        ("redirect_url", Some(RedirectTo)),
        ("login_path", Some(RedirectTo)),
        ("returnTo", Some(RedirectTo)),
        ("redirectIfAuthenticated", Some(RedirectIfAuthenticated)),
        ("redirect_if_authenticted", Some(RedirectIfAuthenticated)),
        ("redirect_if_authed", Some(RedirectIfAuthenticated)),
        ("redirect_if_logged_in", Some(RedirectIfAuthenticated)),
        ("if_authenticated", Some(RedirectIfAuthenticated)),
        ("Role", Some(Role)),
        ("roles", Some(Role)),
        ("roel", Some(Role)),
        ("has_role", Some(Role)),
        ("requiredRole", Some(Role)),
        ("scopes", Some(Scope)),
        ("scpoe", Some(Scope)),
        ("required_scope", Some(Scope)),
        ("chek", Some(Check)),
        ("check_fn", Some(Check)),
        ("predicate", Some(Check)),
        ("authorize", Some(Check)),
        ("cache", None),
        ("to", None),
        ("type", None),
        ("group", None),
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
fn edit_distance_counts_swap_once() {
    assert_eq!(edit_distance("roel", "role"), 1);
    assert_eq!(edit_distance("ab", "ba"), 1);
    assert_eq!(edit_distance("abc", "ca"), 3);
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
