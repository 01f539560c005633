//! Parsing and validation of the macro arguments, such as
//! `#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]`.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, Lit, LitStr, Token};

use crate::errors::Errors;

pub(crate) mod kw {
    syn::custom_keyword!(redirect_to);
    syn::custom_keyword!(redirect_if_authenticated);
}

/// The accepted options of `#[require_auth]`, as listed in error messages.
const ACCEPTED_OPTIONS: &str = "`redirect_to = \"/path\"` or `redirect_if_authenticated`";

/// The macro being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacroKind {
    /// `#[require_auth]`, for pages: signed-out visitors are redirected.
    RequireAuth,
    /// `#[with_auth]`, for APIs: signed-out callers get 401.
    WithAuth,
}

impl MacroKind {
    /// Returns the attribute's name, which is also its name in the facade.
    pub(crate) fn name(self) -> &'static str {
        match self {
            MacroKind::RequireAuth => "require_auth",
            MacroKind::WithAuth => "with_auth",
        }
    }
}

/// The options of one invocation. Options that failed to parse or validate
/// are left out, and their errors are in the [`Errors`].
#[derive(Default)]
pub(crate) struct Options {
    /// The target of `redirect_to`, already checked to be a same-origin path.
    pub(crate) redirect_to: Option<LitStr>,
    pub(crate) redirect_if_authenticated: bool,
}

/// One option as written, before checking for repeats.
enum ParsedOption {
    RedirectTo {
        keyword: kw::redirect_to,
        value: Option<LitStr>,
    },
    RedirectIfAuthenticated(kw::redirect_if_authenticated),
}

/// Parses the arguments of `kind`, adding every problem to `errors`.
pub(crate) fn parse_options(kind: MacroKind, args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();

    let parser = |input: ParseStream| {
        parse_option_list(kind, input, &mut options, errors);
        Ok(())
    };
    // The closure consumes every token and always returns `Ok`, so `parse2`
    // has nothing to reject. Its result is still kept in case that changes.
    let result = parser.parse2(args);
    errors.ok(result);

    options
}

fn parse_option_list(
    kind: MacroKind,
    input: ParseStream,
    options: &mut Options,
    errors: &mut Errors,
) {
    let mut seen_redirect_to = false;
    let mut seen_redirect_if_authenticated = false;

    while !input.is_empty() {
        let parsed = match parse_option(kind, input, errors) {
            Ok(parsed) => parsed,
            Err(error) => {
                // Skip to the next option so that its problems are reported too.
                errors.push(error);
                skip_past_comma(input);
                continue;
            }
        };

        match parsed {
            ParsedOption::RedirectTo { keyword, value } => {
                if seen_redirect_to {
                    errors.push_spanned(keyword, "`redirect_to` is given more than once");
                }
                seen_redirect_to = true;
                options.redirect_to = options.redirect_to.take().or(value);
            }
            ParsedOption::RedirectIfAuthenticated(keyword) => {
                if seen_redirect_if_authenticated {
                    errors.push_spanned(
                        keyword,
                        "`redirect_if_authenticated` is given more than once",
                    );
                }
                seen_redirect_if_authenticated = true;
                options.redirect_if_authenticated = true;
            }
        }

        // Skip what `parse_option` left of this option, such as the `(..)` of
        // `redirect_to("/signin")`, and the comma after it.
        skip_past_comma(input);
    }
}

/// Parses one option, stopping at the next comma or earlier.
///
/// Once the option's keyword is read, a problem with its value is added to
/// `errors` and the option is returned without the value, so that a repeat
/// of the keyword is still detected. The caller skips what is left of it.
fn parse_option(
    kind: MacroKind,
    input: ParseStream,
    errors: &mut Errors,
) -> syn::Result<ParsedOption> {
    if kind == MacroKind::WithAuth {
        return Err(with_auth_takes_no_options(input));
    }

    let lookahead = input.lookahead1();

    // redirect_to = "/signin"
    if lookahead.peek(kw::redirect_to) {
        let keyword: kw::redirect_to = input.parse()?;
        let value = parse_redirect_to_value(&keyword, input).and_then(check_redirect_path);

        let value = errors.ok(value);
        return Ok(ParsedOption::RedirectTo { keyword, value });
    }

    // redirect_if_authenticated
    if lookahead.peek(kw::redirect_if_authenticated) {
        let keyword: kw::redirect_if_authenticated = input.parse()?;

        if !at_option_end(input) {
            input.parse::<Option<Token![=]>>()?;
            let value = tokens_before_comma(input);
            errors.push_spanned(
                value,
                "`redirect_if_authenticated` takes no value. \
                 Write `redirect_if_authenticated` alone to turn it on, or leave it out",
            );
        }
        return Ok(ParsedOption::RedirectIfAuthenticated(keyword));
    }

    if input.peek(Ident::peek_any) {
        let unknown = input.call(Ident::parse_any)?;
        return Err(unknown_option(&unknown));
    }

    // "/signin", a common slip for `redirect_to = "/signin"`
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        let message = format!(
            "expected {ACCEPTED_OPTIONS}. To set where visitors are sent, write `redirect_to = {}`",
            literal.token(),
        );
        return Err(syn::Error::new_spanned(literal, message));
    }

    Err(lookahead.error())
}

/// Parses `= "<path>"` after `redirect_to`, up to the next comma.
fn parse_redirect_to_value(keyword: &kw::redirect_to, input: ParseStream) -> syn::Result<LitStr> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new_spanned(
            keyword,
            "`redirect_to` needs a value, such as `redirect_to = \"/signin\"`",
        ));
    }
    let equals: Token![=] = input.parse()?;

    if at_option_end(input) {
        return Err(syn::Error::new_spanned(
            equals,
            "expected a string literal after `redirect_to =`, such as `\"/signin\"`",
        ));
    }
    let value = tokens_before_comma(input);

    let literal = match syn::parse2::<Lit>(value.clone()) {
        Ok(Lit::Str(literal)) => literal,
        Ok(other) => {
            let message = format!(
                "`redirect_to` must be a string literal such as `\"/signin\"`, found {}",
                literal_kind(&other),
            );
            return Err(syn::Error::new_spanned(value, message));
        }
        Err(_) => {
            return Err(syn::Error::new_spanned(
                value,
                "`redirect_to` must be a string literal such as `\"/signin\"`. \
                 Constants, macros and other expressions are not supported",
            ));
        }
    };

    if !literal.suffix().is_empty() {
        return Err(syn::Error::new_spanned(
            literal,
            "`redirect_to` does not accept a suffix on the string literal",
        ));
    }

    Ok(literal)
}

/// Returns `literal` if it contains a valid `redirect_to` path, or an error
/// at the literal that says why not.
fn check_redirect_path(literal: LitStr) -> syn::Result<LitStr> {
    match validate_redirect_path(&literal.value()) {
        Ok(()) => Ok(literal),
        Err(reason) => Err(syn::Error::new_spanned(literal, reason)),
    }
}

/// Returns the error for any option given to `#[with_auth]`, pointing at the
/// first token of the option.
fn with_auth_takes_no_options(input: ParseStream) -> syn::Error {
    let first = input.cursor().token_tree().map(|(token, _)| token);
    let message = if input.peek(kw::redirect_to) || input.peek(kw::redirect_if_authenticated) {
        format!(
            "`{}` is an option of `#[require_auth]`, not of `#[with_auth]`. \
             `#[with_auth]` takes no options because it rejects signed-out callers \
             with 401 Unauthorized instead of redirecting",
            first.as_ref().map(ToString::to_string).unwrap_or_default(),
        )
    } else {
        format!(
            "`#[with_auth]` takes no options, found `{}`",
            first.as_ref().map(ToString::to_string).unwrap_or_default(),
        )
    };

    syn::Error::new_spanned(first.into_token_stream(), message)
}

fn unknown_option(unknown: &Ident) -> syn::Error {
    let written = unknown.unraw().to_string();
    let suggestion = suggest_option(&written)
        .map(|option| format!(". Did you mean `{option}`?"))
        .unwrap_or_default();

    syn::Error::new_spanned(
        unknown,
        format!("unknown option `{written}`, expected {ACCEPTED_OPTIONS}{suggestion}"),
    )
}

/// Returns the option that `written` most likely meant, if any.
pub(crate) fn suggest_option(written: &str) -> Option<&'static str> {
    const REDIRECT_TO: &str = "redirect_to";
    const REDIRECT_IF_AUTHENTICATED: &str = "redirect_if_authenticated";

    // Case, `_` and `-` differences: `redirectTo`, `REDIRECT_TO`.
    let normalized: String = written
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();

    // Typos: `redirct_to`, `redirect_if_authenticted`.
    for option in [REDIRECT_TO, REDIRECT_IF_AUTHENTICATED] {
        if edit_distance(&normalized, &option.replace('_', "")) <= 2 {
            return Some(option);
        }
    }

    // Other words for "when signed in": `redirect_if_authed`, `redirect_if_logged_in`.
    let signed_in_words = ["authenticated", "authed", "loggedin", "signedin"];
    if normalized.starts_with("redirectif")
        || signed_in_words.iter().any(|w| normalized.contains(w))
    {
        return Some(REDIRECT_IF_AUTHENTICATED);
    }

    // Other words for the target: `redirect`, `redirect_url`, `login_path`, `return_to`.
    let target_words = ["redirect", "login", "signin", "returnto"];
    if target_words.iter().any(|w| normalized.starts_with(w)) {
        return Some(REDIRECT_TO);
    }

    None
}

/// Returns the Levenshtein distance between `a` and `b`, counted in chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();

    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }

    previous[b.len()]
}

/// Checks that `path` is a path on the application's own origin, and returns
/// the reason it is not otherwise.
///
/// The value ends up in a `Location` header, so anything a browser could read
/// as another host is rejected, and so is anything a header cannot carry.
pub(crate) fn validate_redirect_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("`redirect_to` must not be empty. Use a path such as \"/signin\"".to_owned());
    }

    // Browsers drop tabs and newlines from URLs, so "/\t/evil.example" would
    // become "//evil.example".
    if let Some(c) = path.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "`redirect_to` must not contain whitespace or control characters, found {c:?}. \
             Percent-encode it as {} if the path needs it",
            percent_encode(c),
        ));
    }

    // `http::HeaderValue::from_str` (http 1.x) accepts visible ASCII only, so
    // the adapter could not send this path.
    if let Some(c) = path.chars().find(|c| !c.is_ascii()) {
        return Err(format!(
            "`redirect_to` must be ASCII because it is sent in the Location header, found {c:?}. \
             Percent-encode it as {}",
            percent_encode(c),
        ));
    }

    // Browsers treat `\` like `/`, so "/\evil.example" is a URL on another host.
    if path.contains('\\') {
        return Err(
            "`redirect_to` must not contain `\\`, because browsers read it as `/` \
             and \"/\\host\" would leave the site"
                .to_owned(),
        );
    }

    if let Some(scheme) = url_scheme(path) {
        return Err(format!(
            "`redirect_to` must be a path on this site such as \"/signin\", \
             not a URL with the `{scheme}:` scheme"
        ));
    }

    if path.starts_with("//") {
        return Err(
            "`redirect_to` must not start with `//`, because browsers read \
             \"//host/path\" as a URL on another host"
                .to_owned(),
        );
    }

    if !path.starts_with('/') {
        // "signin" and "./signin" both suggest "/signin".
        let suggestion = path.trim_start_matches(['.', '/']);
        return Err(format!(
            "`redirect_to` must be a path that starts with `/`, such as \"/{suggestion}\""
        ));
    }

    Ok(())
}

/// Returns the scheme if `text` starts with one, as in `https:` or
/// `javascript:` (RFC 3986: a letter, then letters, digits, `+`, `-` or `.`).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();

    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_valid = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));

    (starts_with_letter && rest_valid).then_some(scheme)
}

fn percent_encode(c: char) -> String {
    let mut buffer = [0; 4];
    c.encode_utf8(&mut buffer)
        .bytes()
        .map(|byte| format!("%{byte:02X}"))
        .collect()
}

fn literal_kind(literal: &Lit) -> &'static str {
    match literal {
        Lit::Str(_) => "a string literal",
        Lit::ByteStr(_) => "a byte string literal",
        Lit::CStr(_) => "a C string literal",
        Lit::Byte(_) => "a byte literal",
        Lit::Char(_) => "a character literal",
        Lit::Int(_) => "an integer literal",
        Lit::Float(_) => "a float literal",
        Lit::Bool(_) => "a boolean literal",
        _ => "another kind of literal",
    }
}

fn at_option_end(input: ParseStream) -> bool {
    input.is_empty() || input.peek(Token![,])
}

/// Consumes and returns the tokens up to the next top-level comma. Commas
/// inside brackets belong to one token tree and do not count.
fn tokens_before_comma(input: ParseStream) -> TokenStream {
    let mut tokens = TokenStream::new();

    while !at_option_end(input) {
        match input.parse::<TokenTree>() {
            Ok(token) => tokens.extend([token]),
            Err(_) => break,
        }
    }

    tokens
}

/// Consumes the tokens up to and including the next top-level comma.
fn skip_past_comma(input: ParseStream) {
    tokens_before_comma(input);
    let _ = input.parse::<Option<Token![,]>>();
}

#[cfg(test)]
mod tests;
