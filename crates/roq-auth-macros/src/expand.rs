//! The rewrite of a handler: a policy type plus a guard extractor added as
//! the handler's first parameter.
//!
//! ```text
//! // Input:
//! #[require_auth(redirect_to = "/signin", role = "admin", check = rules::is_staff)]
//! pub async fn dashboard(session: Session) -> Html<String> { .. }
//!
//! // Output, with `$adapter` the path from `Framework::adapter_path`:
//! #[allow(non_camel_case_types, dead_code)]
//! #[doc(hidden)]
//! pub struct __roq_auth_policy_dashboard;
//! impl $adapter::__private::GuardPolicy for __roq_auth_policy_dashboard {
//!     const POLICY: $adapter::__private::Policy = $adapter::__private::Policy::page()
//!         .redirect_to("/signin")
//!         .role("admin")
//!         .check(rules::is_staff);
//! }
//! pub async fn dashboard(
//!     _: $adapter::__private::Guard<__roq_auth_policy_dashboard>,
//!     session: Session,
//! ) -> Html<String> { .. }
//! ```
//!
//! The guard is the first parameter, so the framework extracts it before the
//! handler's own parameters. Everything else in the function is emitted as
//! written, body tokens included. `Policy::check` takes a
//! `fn(&User) -> bool`, so rustc checks the signature of the function named
//! by `check` where the user wrote its path.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{parse_quote, Attribute, FnArg, Ident, Item, Signature, Token, Visibility};

use crate::args::{self, MacroKind, Options};
use crate::errors::Errors;

/// Expands one `#[require_auth]` or `#[with_auth]` invocation.
///
/// `adapter` is the path of the framework adapter, or the error from
/// resolving it. On any error the output is `item` unchanged plus one
/// `compile_error!` per problem, so that the user sees no follow-on errors.
///
/// NOTE: a second guard attribute below this one stays on the item, so it
/// still expands and reports the function's own problems, such as a missing
/// `async`, once more under its name. Dropping it would instead warn that
/// its import is unused.
pub(crate) fn expand(
    kind: MacroKind,
    adapter: syn::Result<TokenStream>,
    args: TokenStream,
    item: TokenStream,
) -> TokenStream {
    match try_expand(kind, adapter, args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => {
            let error = error.into_compile_error();
            quote!(#item #error)
        }
    }
}

/// Expands one invocation, or returns every problem found as one combined
/// error.
fn try_expand(
    kind: MacroKind,
    adapter: syn::Result<TokenStream>,
    args: TokenStream,
    item: TokenStream,
) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();

    let options = args::parse_options(kind, args, &mut errors);
    let handler = read_handler(kind, item, &mut errors);
    let adapter = errors.ok(adapter);

    match (handler, adapter, errors.into_error()) {
        (Some(handler), Some(adapter), None) => Ok(rewrite(kind, &adapter, &options, handler)),
        (_, _, Some(error)) => Err(error),
        // `read_handler` and `Errors::ok` add an error whenever they return `None`.
        (_, _, None) => unreachable!("a missing handler or adapter always adds an error"),
    }
}

/// A function as written, with its body kept as raw tokens.
///
/// The body is never parsed, so a syntax error in it is reported by rustc
/// against the user's code instead of failing the macro.
struct HandlerFn {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    /// The braced body, or `None` for a declaration ending in `;`.
    body: Option<Group>,
}

impl Parse for HandlerFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;

        let body = if input.parse::<Option<Token![;]>>()?.is_some() {
            None
        } else {
            let body: Group = input.parse()?;
            if body.delimiter() != Delimiter::Brace {
                return Err(syn::Error::new(body.span(), "expected the function body"));
            }
            Some(body)
        };

        Ok(HandlerFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// Parses `item` as a handler and checks that the macro can rewrite it,
/// adding every problem to `errors`. Returns `None` if it is no function.
fn read_handler(kind: MacroKind, item: TokenStream, errors: &mut Errors) -> Option<HandlerFn> {
    let handler = match syn::parse2::<HandlerFn>(item.clone()) {
        Ok(handler) => handler,
        Err(error) => {
            errors.push(not_a_function(kind, item, error));
            return None;
        }
    };

    let attribute = format!("`#[{}]`", kind.name());

    if let Some(receiver) = handler.sig.receiver() {
        errors.push_spanned(
            receiver,
            format!(
                "{attribute} applies to async handler functions, not to methods with a `self` \
                 receiver. Write the handler as a free `async fn`"
            ),
        );
        // A method is not a handler, so the checks below would only add noise.
        return Some(handler);
    }

    if handler.sig.asyncness.is_none() {
        errors.push_spanned(
            handler.sig.fn_token,
            format!("{attribute} applies to async functions only. Write `async fn`"),
        );
    }

    if handler.body.is_none() {
        errors.push_spanned(
            &handler.sig.ident,
            format!("{attribute} applies to async handler functions with a body"),
        );
    }

    for attr in &handler.attrs {
        check_other_guard(kind, attr, errors);
    }

    Some(handler)
}

/// Returns which guard macro `attr` is, if any. The names are matched by
/// their last path segment, as in `#[roq_auth::axum::with_auth]`.
fn guard_kind(attr: &Attribute) -> Option<MacroKind> {
    let last = attr.path().segments.last()?;

    [MacroKind::RequireAuth, MacroKind::WithAuth]
        .into_iter()
        .find(|kind| last.ident == kind.name())
}

/// Reports `attr` if it is a second `#[require_auth]` or `#[with_auth]`.
///
/// Only the attributes below this one are still on the function, because
/// rustc expands attributes from the top down, so the lower of two guards
/// gets the error.
fn check_other_guard(kind: MacroKind, attr: &Attribute, errors: &mut Errors) {
    let Some(other) = guard_kind(attr) else {
        return;
    };

    let message = if other == kind {
        format!(
            "`#[{}]` is applied more than once to this function. Remove one",
            kind.name()
        )
    } else {
        "`#[require_auth]` and `#[with_auth]` cannot both protect one function. \
         Keep `#[require_auth]` for pages, which redirect, or `#[with_auth]` for APIs, \
         which reject with 401 Unauthorized"
            .to_owned()
    };
    errors.push_spanned(attr, message);
}

/// Builds the error for an item that is not a function, pointing at its
/// keyword and name.
fn not_a_function(kind: MacroKind, item: TokenStream, parse_error: syn::Error) -> syn::Error {
    let attribute = format!("`#[{}]`", kind.name());

    let Ok(item) = syn::parse2::<Item>(item) else {
        let message = format!(
            "{attribute} applies to async handler functions, and this item could not be parsed \
             as one: {parse_error}"
        );
        return syn::Error::new(parse_error.span(), message);
    };

    let (description, tokens) = describe_item(&item);
    syn::Error::new_spanned(
        tokens,
        format!("{attribute} applies to async handler functions, not to {description}"),
    )
}

/// Returns what an item is, in words, and the tokens of its keyword and name.
fn describe_item(item: &Item) -> (&'static str, TokenStream) {
    fn head(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
        quote!(#keyword #name)
    }

    match item {
        Item::Struct(item) => ("a struct", head(&item.struct_token, &item.ident)),
        Item::Enum(item) => ("an enum", head(&item.enum_token, &item.ident)),
        Item::Union(item) => ("a union", head(&item.union_token, &item.ident)),
        Item::Trait(item) => ("a trait", head(&item.trait_token, &item.ident)),
        Item::TraitAlias(item) => ("a trait alias", head(&item.trait_token, &item.ident)),
        Item::Impl(item) => ("an impl block", head(&item.impl_token, &item.self_ty)),
        Item::Mod(item) => ("a module", head(&item.mod_token, &item.ident)),
        Item::Const(item) => ("a constant", head(&item.const_token, &item.ident)),
        Item::Static(item) => ("a static", head(&item.static_token, &item.ident)),
        Item::Type(item) => ("a type alias", head(&item.type_token, &item.ident)),
        Item::Use(item) => ("a `use` declaration", item.use_token.to_token_stream()),
        Item::ExternCrate(item) => ("an `extern crate`", head(&item.extern_token, &item.ident)),
        Item::ForeignMod(item) => ("an `extern` block", item.abi.to_token_stream()),
        Item::Macro(item) => ("a macro invocation", item.mac.path.to_token_stream()),
        other => ("this item", other.to_token_stream()),
    }
}

/// Emits the policy type and the handler with the guard parameter.
fn rewrite(
    kind: MacroKind,
    adapter: &TokenStream,
    options: &Options,
    handler: HandlerFn,
) -> TokenStream {
    let HandlerFn {
        attrs,
        vis,
        mut sig,
        body,
    } = handler;

    let policy_type = policy_type_ident(&sig.ident);
    let policy = policy_value(kind, adapter, options);

    let guard: FnArg = parse_quote!(_: #adapter::__private::Guard<#policy_type>);
    sig.inputs.insert(0, guard);

    quote! {
        #[allow(non_camel_case_types, dead_code)]
        #[doc(hidden)]
        #vis struct #policy_type;

        impl #adapter::__private::GuardPolicy for #policy_type {
            const POLICY: #adapter::__private::Policy = #policy;
        }

        #(#attrs)*
        #vis #sig #body
    }
}

/// Returns `__roq_auth_policy_<fn name>`, spanned at the function's name.
///
/// Mixed-site hygiene keeps the name apart from the user's local variables.
/// Item names still resolve at the call site, so the type is visible to the
/// signature that names it.
fn policy_type_ident(fn_name: &Ident) -> Ident {
    let span = Span::mixed_site().located_at(fn_name.span());
    format_ident!("__roq_auth_policy_{}", fn_name.unraw(), span = span)
}

/// Returns the `Policy` value: a constructor for the macro's kind, then one
/// builder call per option given.
fn policy_value(kind: MacroKind, adapter: &TokenStream, options: &Options) -> TokenStream {
    let mut policy = match kind {
        MacroKind::RequireAuth => quote!(#adapter::__private::Policy::page()),
        MacroKind::WithAuth => quote!(#adapter::__private::Policy::api()),
    };

    if let Some(path) = &options.redirect_to {
        policy = quote!(#policy.redirect_to(#path));
    }
    if options.redirect_if_authenticated {
        policy = quote!(#policy.redirect_if_authenticated());
    }
    if let Some(role) = &options.role {
        policy = quote!(#policy.role(#role));
    }
    if let Some(scope) = &options.scope {
        policy = quote!(#policy.scope(#scope));
    }
    if let Some(check) = &options.check {
        // The call takes the span of the user's path, so that a function of
        // the wrong signature is reported there and not at the attribute.
        policy = quote_spanned!(check.span()=> #policy.check(#check));
    }

    policy
}

#[cfg(test)]
mod tests;
