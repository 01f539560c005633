//! Parsing and validation of the macro arguments, such as
//! `#[require_auth(redirect_to = "/signin", role = "admin")]`.
//!
//! Parsing never stops at the first problem: each option is read up to the
//! next top-level comma, its errors are collected, and the next option is
//! read, so one build shows every mistake of an invocation.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{ExprPath, Ident, Lit, LitStr, Token};

use crate::errors::Errors;

mod suggest;
mod validate;

pub(crate) use suggest::suggest_option;
#[cfg(test)]
pub(crate) use validate::validate_redirect_path;

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

    /// Returns the options this macro accepts, in the order the docs list them.
    fn options(self) -> &'static [OptionName] {
        match self {
            MacroKind::RequireAuth => &OptionName::ALL,
            MacroKind::WithAuth => &[OptionName::Role, OptionName::Scope, OptionName::Check],
        }
    }

    /// Returns the accepted forms, as listed in error messages:
    /// "`role = "name"`, `scope = "name"` or `check = path::to::fn`".
    pub(crate) fn accepted_forms(self) -> String {
        let forms: Vec<String> = self
            .options()
            .iter()
            .map(|option| format!("`{}`", option.form()))
            .collect();
        match forms.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// The name of one option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OptionName {
    RedirectTo,
    RedirectIfAuthenticated,
    Role,
    Scope,
    Check,
}

impl OptionName {
    pub(crate) const ALL: [OptionName; 5] = [
        OptionName::RedirectTo,
        OptionName::RedirectIfAuthenticated,
        OptionName::Role,
        OptionName::Scope,
        OptionName::Check,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            OptionName::RedirectTo => "redirect_to",
            OptionName::RedirectIfAuthenticated => "redirect_if_authenticated",
            OptionName::Role => "role",
            OptionName::Scope => "scope",
            OptionName::Check => "check",
        }
    }

    /// Returns the option as written, with a placeholder value.
    fn form(self) -> &'static str {
        match self {
            OptionName::RedirectTo => "redirect_to = \"/path\"",
            OptionName::RedirectIfAuthenticated => "redirect_if_authenticated",
            OptionName::Role => "role = \"name\"",
            OptionName::Scope => "scope = \"name\"",
            OptionName::Check => "check = path::to::fn",
        }
    }

    /// Returns the option with a realistic value, for "such as" hints.
    fn example(self) -> &'static str {
        match self {
            OptionName::RedirectTo => "redirect_to = \"/signin\"",
            OptionName::RedirectIfAuthenticated => "redirect_if_authenticated",
            OptionName::Role => "role = \"admin\"",
            OptionName::Scope => "scope = \"reports:read\"",
            OptionName::Check => "check = is_admin",
        }
    }

    /// Returns whether the option checks the signed-in user, and so cannot
    /// apply to a handler that serves signed-out visitors only.
    fn is_authorization(self) -> bool {
        matches!(
            self,
            OptionName::Role | OptionName::Scope | OptionName::Check
        )
    }

    fn from_name(name: &str) -> Option<OptionName> {
        OptionName::ALL
            .into_iter()
            .find(|option| option.name() == name)
    }
}

/// The options of one invocation. Options that failed to parse or validate
/// are left out, and their errors are in the [`Errors`].
#[derive(Default)]
pub(crate) struct Options {
    /// The target of `redirect_to`, already checked to be a same-origin path.
    pub(crate) redirect_to: Option<LitStr>,
    pub(crate) redirect_if_authenticated: bool,
    /// The role the signed-in user must have.
    pub(crate) role: Option<LitStr>,
    /// The scope the provider must have granted at sign-in.
    pub(crate) scope: Option<LitStr>,
    /// The path of the application's `fn(&User) -> bool`.
    pub(crate) check: Option<ExprPath>,
}

/// The value of one option as parsed, or `None` when it was invalid.
enum OptionValue {
    Flag,
    Str(Option<LitStr>),
    Path(Option<ExprPath>),
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
    // The first keyword of each option given, for repeats and conflicts.
    let mut seen: Vec<(OptionName, Ident)> = Vec::new();

    while !input.is_empty() {
        if let Some((name, keyword, value)) = parse_option(kind, input, errors) {
            if seen.iter().any(|(earlier, _)| *earlier == name) {
                errors.push_spanned(
                    &keyword,
                    format!("`{}` is given more than once", name.name()),
                );
            } else {
                seen.push((name, keyword));
            }
            store(options, name, value);
        }

        // Skip what `parse_option` left of this option, such as the `(..)` of
        // `redirect_to("/signin")`, and the comma after it.
        skip_past_comma(input);
    }

    check_conflicts(&seen, errors);
}

/// Keeps the first valid value of each option.
fn store(options: &mut Options, name: OptionName, value: OptionValue) {
    match (name, value) {
        (OptionName::RedirectTo, OptionValue::Str(value)) => {
            options.redirect_to = options.redirect_to.take().or(value);
        }
        (OptionName::RedirectIfAuthenticated, _) => options.redirect_if_authenticated = true,
        (OptionName::Role, OptionValue::Str(value)) => {
            options.role = options.role.take().or(value);
        }
        (OptionName::Scope, OptionValue::Str(value)) => {
            options.scope = options.scope.take().or(value);
        }
        (OptionName::Check, OptionValue::Path(value)) => {
            options.check = options.check.take().or(value);
        }
        // `parse_value` returns the value kind that matches each name.
        _ => unreachable!("option value of the wrong kind"),
    }
}

/// Rejects `role`, `scope` and `check` beside `redirect_if_authenticated`,
/// with one error at each authorization option.
fn check_conflicts(seen: &[(OptionName, Ident)], errors: &mut Errors) {
    let flag_given = seen
        .iter()
        .any(|(name, _)| *name == OptionName::RedirectIfAuthenticated);
    if !flag_given {
        return;
    }

    for (name, keyword) in seen {
        if name.is_authorization() {
            errors.push_spanned(
                keyword,
                format!(
                    "`{name}` cannot be combined with `redirect_if_authenticated`, because that \
                     handler serves only signed-out visitors, who have no session to check. \
                     Remove `{name}`, or remove `redirect_if_authenticated`",
                    name = name.name(),
                ),
            );
        }
    }
}

/// Parses one option, stopping at the next comma or earlier.
///
/// Returns `None`, after adding the error, when the next tokens are not an
/// option of this macro. Once the name is read, a problem with the value is
/// added to `errors` and the option is returned without its value, so that
/// a repeat of the name is still detected. The caller skips what is left of
/// the option.
fn parse_option(
    kind: MacroKind,
    input: ParseStream,
    errors: &mut Errors,
) -> Option<(OptionName, Ident, OptionValue)> {
    if !input.peek(Ident::peek_any) {
        errors.push(not_an_option(kind, input));
        return None;
    }
    let Ok(keyword) = input.call(Ident::parse_any) else {
        unreachable!("an identifier was peeked");
    };

    let written = keyword.unraw().to_string();
    let Some(name) = OptionName::from_name(&written) else {
        errors.push(unknown_option(kind, &keyword));
        return None;
    };

    if !kind.options().contains(&name) {
        errors.push(option_of_other_macro(kind, name, &keyword));
        return None;
    }

    let value = parse_value(name, &keyword, input, errors);
    Some((name, keyword, value))
}

/// Parses what follows an option name, up to the next comma.
fn parse_value(
    name: OptionName,
    keyword: &Ident,
    input: ParseStream,
    errors: &mut Errors,
) -> OptionValue {
    if name == OptionName::RedirectIfAuthenticated {
        // redirect_if_authenticated
        if !at_option_end(input) {
            let _ = input.parse::<Option<Token![=]>>();
            let value = tokens_before_comma(input);
            errors.push_spanned(
                value,
                "`redirect_if_authenticated` takes no value. \
                 Write `redirect_if_authenticated` alone to turn it on, or leave it out",
            );
        }
        return OptionValue::Flag;
    }

    let value = value_tokens(name, keyword, input);
    match name {
        // redirect_to = "/signin"
        OptionName::RedirectTo => OptionValue::Str(
            errors.ok(value
                .and_then(|value| string_literal(name, value))
                .and_then(validate::check_redirect_path)),
        ),
        // role = "admin"
        OptionName::Role => OptionValue::Str(
            errors.ok(value
                .and_then(|value| string_literal(name, value))
                .and_then(validate::check_role)),
        ),
        // scope = "reports:read"
        OptionName::Scope => OptionValue::Str(
            errors.ok(value
                .and_then(|value| string_literal(name, value))
                .and_then(validate::check_scope)),
        ),
        // check = path::to::is_admin
        OptionName::Check => OptionValue::Path(errors.ok(value.and_then(function_path))),
        OptionName::RedirectIfAuthenticated => unreachable!("handled above"),
    }
}

/// Parses `= <tokens>` after the option name and returns the tokens.
fn value_tokens(name: OptionName, keyword: &Ident, input: ParseStream) -> syn::Result<TokenStream> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new_spanned(
            keyword,
            format!(
                "`{}` needs a value, such as `{}`",
                name.name(),
                name.example()
            ),
        ));
    }
    let equals: Token![=] = input.parse()?;

    if at_option_end(input) {
        let example = name.example();
        let value = example
            .split_once(" = ")
            .map_or(example, |(_, value)| value);
        return Err(syn::Error::new_spanned(
            equals,
            format!(
                "expected a value after `{} =`, such as `{value}`",
                name.name()
            ),
        ));
    }
    Ok(tokens_before_comma(input))
}

/// Returns the string literal that `value` consists of, or an error at
/// `value` that names what was found instead.
fn string_literal(name: OptionName, value: TokenStream) -> syn::Result<LitStr> {
    let example = name.example();
    let literal = match syn::parse2::<Lit>(value.clone()) {
        Ok(Lit::Str(literal)) => literal,
        Ok(other) => {
            let message = format!(
                "`{}` must be a string literal, as in `{example}`, found {}",
                name.name(),
                literal_kind(&other),
            );
            return Err(syn::Error::new_spanned(value, message));
        }
        Err(_) => {
            let message = format!(
                "`{}` must be a string literal, as in `{example}`. \
                 Constants, macros and other expressions are not supported",
                name.name(),
            );
            return Err(syn::Error::new_spanned(value, message));
        }
    };

    if !literal.suffix().is_empty() {
        return Err(syn::Error::new_spanned(
            literal,
            format!(
                "`{}` does not accept a suffix on the string literal",
                name.name()
            ),
        ));
    }

    Ok(literal)
}

/// Returns the function path that `value` consists of, as in
/// `check = rules::is_admin`, or an error at `value`.
fn function_path(value: TokenStream) -> syn::Result<ExprPath> {
    const USAGE: &str = "`check` takes the path of a function `fn(&User) -> bool`, \
                         as in `check = is_admin`";

    if let Ok(Lit::Str(literal)) = syn::parse2::<Lit>(value.clone()) {
        let hint = match syn::parse_str::<ExprPath>(&literal.value()) {
            Ok(_) => format!(
                ". Write the path without quotes: `check = {}`",
                literal.value()
            ),
            Err(_) => String::new(),
        };
        return Err(syn::Error::new_spanned(
            literal,
            format!("{USAGE}, not a string{hint}"),
        ));
    }

    let path = match syn::parse2::<ExprPath>(value.clone()) {
        Ok(path) => path,
        Err(_) => {
            return Err(syn::Error::new_spanned(
                value,
                format!(
                    "{USAGE}. Closures, calls and other expressions are not supported, so \
                     write the rule as a function and name it here"
                ),
            ));
        }
    };

    // The path is resolved inside the generated `impl` block, where `Self`
    // would name the generated policy type instead of the user's type.
    let first = path.path.segments.first();
    if path.qself.is_none() && first.is_some_and(|segment| segment.ident == "Self") {
        return Err(syn::Error::new_spanned(
            &path,
            format!("{USAGE}. `Self` is not supported here: name the type, as in `check = Rules::is_admin`"),
        ));
    }

    Ok(path)
}

/// Returns the error for a token where an option name should be.
fn not_an_option(kind: MacroKind, input: ParseStream) -> syn::Error {
    let accepted = kind.accepted_forms();

    // "/signin", a common slip for `redirect_to = "/signin"`
    if kind == MacroKind::RequireAuth && input.peek(LitStr) {
        if let Ok(literal) = input.parse::<LitStr>() {
            let message = format!(
                "expected {accepted}. To set where visitors are sent, write `redirect_to = {}`",
                literal.token(),
            );
            return syn::Error::new_spanned(literal, message);
        }
    }

    match input.cursor().token_tree() {
        Some((token, _)) => {
            syn::Error::new_spanned(&token, format!("expected {accepted}, found `{token}`"))
        }
        None => syn::Error::new(Span::call_site(), format!("expected {accepted}")),
    }
}

fn unknown_option(kind: MacroKind, unknown: &Ident) -> syn::Error {
    let written = unknown.unraw().to_string();
    let accepted = kind.accepted_forms();

    let hint = match suggest_option(&written) {
        Some(option) if kind.options().contains(&option) => {
            format!(". Did you mean `{}`?", option.name())
        }
        Some(option) => format!(
            ". `{}`, which it resembles, is an option of `#[require_auth]` only",
            option.name()
        ),
        None => String::new(),
    };

    syn::Error::new_spanned(
        unknown,
        format!("unknown option `{written}`, expected {accepted}{hint}"),
    )
}

/// Returns the error for `redirect_to` or `redirect_if_authenticated` on
/// `#[with_auth]`, pointing at the option name.
fn option_of_other_macro(kind: MacroKind, name: OptionName, keyword: &Ident) -> syn::Error {
    let message = format!(
        "`{}` is an option of `#[require_auth]`, not of `#[{}]`, which rejects signed-out \
         callers with 401 Unauthorized instead of redirecting. `#[{}]` accepts {}",
        name.name(),
        kind.name(),
        kind.name(),
        kind.accepted_forms(),
    );
    syn::Error::new_spanned(keyword, message)
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
///
/// NOTE: angle brackets are not token trees, so the comma in a turbofish
/// such as `check = allow::<A, B>` ends the option early and the path is
/// reported as invalid. A `check` function needs no generic arguments.
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
