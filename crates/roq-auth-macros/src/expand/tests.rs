use syn::spanned::Spanned as _;
use syn::{Expr, File, ImplItem, ItemFn, ItemImpl, ItemStruct};

use super::*;
use crate::test_support::{messages_and_targets, tokens};

const ADAPTER: &str = "::roq_auth::axum";

const DASHBOARD: &str = r#"
    /// Shows the dashboard.
    #[tracing::instrument(skip_all)]
    pub async fn dashboard<S>(
        State(state): State<S>,
        Path(id): Path<u64>,
        Json(body): Json<Body>,
    ) -> Result<impl IntoResponse, AppError>
    where
        S: Clone + Send + Sync + 'static,
    {
        let user = load(&state, id).await?;
        Ok(Html(render(user, body)))
    }
"#;

/// The three items of a successful expansion.
struct Expanded {
    policy_struct: ItemStruct,
    policy_impl: ItemImpl,
    handler: ItemFn,
}

fn adapter() -> syn::Result<TokenStream> {
    Ok(tokens(ADAPTER))
}

fn expand_ok(kind: MacroKind, args: &str, item: &str) -> Expanded {
    let output = try_expand(kind, adapter(), tokens(args), tokens(item))
        .unwrap_or_else(|error| panic!("expansion failed: {:?}", messages_and_targets(error)));
    let file: File = syn::parse2(output).expect("expansion should parse as items");

    let [Item::Struct(policy_struct), Item::Impl(policy_impl), Item::Fn(handler)] =
        <[Item; 3]>::try_from(file.items).unwrap_or_else(|items| {
            panic!("expected struct, impl and fn, got {} items", items.len())
        })
    else {
        panic!("expected struct, impl and fn, in that order");
    };

    Expanded {
        policy_struct,
        policy_impl,
        handler,
    }
}

/// Returns each error of an expansion as (message, text pointed at).
fn expand_errors(kind: MacroKind, args: &str, item: &str) -> Vec<(String, String)> {
    match try_expand(kind, adapter(), tokens(args), tokens(item)) {
        Ok(output) => panic!("expected errors, got the expansion `{output}`"),
        Err(error) => messages_and_targets(error),
    }
}

fn text(tokens: impl ToTokens) -> String {
    tokens.to_token_stream().to_string()
}

/// Returns the `POLICY` constant's value.
fn policy_of(expanded: &Expanded) -> &Expr {
    let [ImplItem::Const(constant)] = expanded.policy_impl.items.as_slice() else {
        panic!("the impl should hold only the POLICY constant");
    };
    assert_eq!(constant.ident, "POLICY");
    assert_eq!(
        text(&constant.ty),
        ":: roq_auth :: axum :: __private :: Policy"
    );
    &constant.expr
}

/// Returns the `POLICY` value as text, without the adapter path before
/// `Policy`: "Policy :: page () . role (\"admin\")".
fn policy_text(expanded: &Expanded) -> String {
    let text = text(policy_of(expanded));
    let prefix = ":: roq_auth :: axum :: __private :: ";
    assert!(text.starts_with(prefix), "{text}");
    text[prefix.len()..].to_owned()
}

#[test]
fn require_auth_defaults() {
    let expanded = expand_ok(MacroKind::RequireAuth, "", DASHBOARD);

    assert_eq!(policy_text(&expanded), "Policy :: page ()");
}

#[test]
fn require_auth_with_redirect_to() {
    let expanded = expand_ok(
        MacroKind::RequireAuth,
        r#"redirect_to = "/signin""#,
        DASHBOARD,
    );

    assert_eq!(
        policy_text(&expanded),
        r#"Policy :: page () . redirect_to ("/signin")"#
    );
}

#[test]
fn redirect_if_authenticated_policy() {
    let flag_only = expand_ok(
        MacroKind::RequireAuth,
        "redirect_if_authenticated",
        DASHBOARD,
    );
    let with_target = expand_ok(
        MacroKind::RequireAuth,
        r#"redirect_if_authenticated, redirect_to = "/dashboard""#,
        DASHBOARD,
    );

    assert_eq!(
        policy_text(&flag_only),
        "Policy :: page () . redirect_if_authenticated ()"
    );
    assert_eq!(
        policy_text(&with_target),
        r#"Policy :: page () . redirect_to ("/dashboard") . redirect_if_authenticated ()"#
    );
}

#[test]
fn with_auth_uses_api_policy() {
    let expanded = expand_ok(MacroKind::WithAuth, "", DASHBOARD);

    assert_eq!(policy_text(&expanded), "Policy :: api ()");
}

#[test]
fn authorization_options_in_fixed_order() {
    // The calls come in one order whatever the order of the options.
    let args = r#"check = crate::rules::is_staff, scope = "reports:read", role = "admin""#;
    let expected = r#"Policy :: page () . role ("admin") . scope ("reports:read") . check (crate :: rules :: is_staff)"#;

    let page = expand_ok(MacroKind::RequireAuth, args, DASHBOARD);
    assert_eq!(policy_text(&page), expected);

    let api = expand_ok(MacroKind::WithAuth, args, DASHBOARD);
    assert_eq!(policy_text(&api), expected.replace("page ()", "api ()"));
}

#[test]
fn check_call_points_at_user_path() {
    let expanded = expand_ok(MacroKind::WithAuth, "check = rules::is_staff", DASHBOARD);

    let Expr::MethodCall(call) = policy_of(&expanded) else {
        panic!("expected a method call");
    };
    assert_eq!(call.method, "check");
    // Outside the compiler, proc-macro2 joins the spans of the whole path.
    // Inside it, the span may cover only the first segment, `rules`.
    assert_eq!(
        call.method.span().source_text().as_deref(),
        Some("rules::is_staff")
    );
    assert_eq!(
        call.args[0].span().source_text().as_deref(),
        Some("rules::is_staff")
    );
}

#[test]
fn authorization_conflict_fails_expansion() {
    let errors = expand_errors(
        MacroKind::RequireAuth,
        r#"redirect_if_authenticated, scope = "a""#,
        DASHBOARD,
    );

    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].1, "scope");
}

#[test]
fn policy_struct_shape() {
    let expanded = expand_ok(MacroKind::RequireAuth, "", DASHBOARD);
    let policy_struct = &expanded.policy_struct;

    assert_eq!(policy_struct.ident, "__roq_auth_policy_dashboard");
    assert_eq!(text(&policy_struct.vis), "pub");
    assert!(matches!(policy_struct.fields, syn::Fields::Unit));
    assert!(policy_struct.generics.params.is_empty());

    let attrs: Vec<String> = policy_struct.attrs.iter().map(text).collect();
    assert_eq!(
        attrs,
        [
            "# [allow (non_camel_case_types , dead_code)]",
            "# [doc (hidden)]"
        ]
    );
}

#[test]
fn policy_impl_shape() {
    let expanded = expand_ok(MacroKind::RequireAuth, "", DASHBOARD);
    let policy_impl = &expanded.policy_impl;

    let (_, trait_path, _) = policy_impl.trait_.as_ref().expect("a trait impl");
    assert_eq!(
        text(trait_path),
        ":: roq_auth :: axum :: __private :: GuardPolicy"
    );
    assert_eq!(text(&policy_impl.self_ty), "__roq_auth_policy_dashboard");
}

#[test]
fn guard_is_first_parameter() {
    let expanded = expand_ok(MacroKind::RequireAuth, "", DASHBOARD);
    let inputs: Vec<String> = expanded.handler.sig.inputs.iter().map(text).collect();

    assert_eq!(
        inputs[0],
        "_ : :: roq_auth :: axum :: __private :: Guard < __roq_auth_policy_dashboard >"
    );
    assert_eq!(
        inputs[1..],
        [
            "State (state) : State < S >",
            "Path (id) : Path < u64 >",
            "Json (body) : Json < Body >"
        ]
    );
}

#[test]
fn rest_of_function_is_unchanged() {
    let original: ItemFn = syn::parse_str(DASHBOARD).expect("test handler should parse");
    let expanded = expand_ok(MacroKind::RequireAuth, "", DASHBOARD);
    let handler = &expanded.handler;

    let attrs = |function: &ItemFn| function.attrs.iter().map(text).collect::<Vec<_>>();
    assert_eq!(attrs(handler), attrs(&original));
    assert_eq!(text(&handler.vis), text(&original.vis));
    assert_eq!(text(handler.sig.asyncness), text(original.sig.asyncness));
    assert_eq!(handler.sig.ident, original.sig.ident);
    assert_eq!(text(&handler.sig.generics), text(&original.sig.generics));
    assert_eq!(
        text(&handler.sig.generics.where_clause),
        text(&original.sig.generics.where_clause)
    );
    assert_eq!(text(&handler.sig.output), text(&original.sig.output));
    assert_eq!(text(&handler.block), text(&original.block));
}

#[test]
fn function_without_parameters() {
    let expanded = expand_ok(
        MacroKind::WithAuth,
        "",
        "async fn me() -> Json<Me> { todo!() }",
    );

    let inputs: Vec<String> = expanded.handler.sig.inputs.iter().map(text).collect();
    assert_eq!(
        inputs,
        ["_ : :: roq_auth :: axum :: __private :: Guard < __roq_auth_policy_me >"]
    );
}

#[test]
fn struct_copies_restricted_visibility() {
    let expanded = expand_ok(MacroKind::WithAuth, "", "pub(crate) async fn me() {}");
    assert_eq!(text(&expanded.policy_struct.vis), "pub (crate)");

    let expanded = expand_ok(MacroKind::WithAuth, "", "async fn me() {}");
    assert_eq!(text(&expanded.policy_struct.vis), "");
}

#[test]
fn raw_function_name() {
    let expanded = expand_ok(MacroKind::WithAuth, "", "async fn r#type() {}");

    assert_eq!(expanded.policy_struct.ident, "__roq_auth_policy_type");
    assert_eq!(expanded.handler.sig.ident, "r#type");
}

#[test]
fn policy_name_points_at_function_name() {
    let expanded = expand_ok(MacroKind::WithAuth, "", "async fn me() {}");

    assert_eq!(
        expanded.policy_struct.ident.span().source_text().as_deref(),
        Some("me")
    );
}

#[test]
fn body_with_syntax_error_is_kept() {
    let item = "async fn broken() { let = ; }";
    let output = try_expand(
        MacroKind::WithAuth,
        adapter(),
        TokenStream::new(),
        tokens(item),
    )
    .expect("the body is not parsed, so its errors are left to rustc");

    assert!(output.to_string().ends_with("async fn broken (_ : :: roq_auth :: axum :: __private :: Guard < __roq_auth_policy_broken >) { let = ; }"), "{output}");
}

#[test]
fn not_async_points_at_fn() {
    let errors = expand_errors(MacroKind::RequireAuth, "", "pub fn dashboard() {}");

    assert_eq!(
        errors,
        [(
            "`#[require_auth]` applies to async functions only. Write `async fn`".to_owned(),
            "fn".to_owned()
        )]
    );
}

#[test]
fn method_points_at_receiver() {
    for receiver in ["&self", "&mut self", "self", "self: Box<Self>"] {
        let item = format!("async fn dashboard({receiver}, session: Session) {{}}");
        let errors = expand_errors(MacroKind::WithAuth, "", &item);

        assert_eq!(
            errors,
            [(
                "`#[with_auth]` applies to async handler functions, not to methods with a \
                 `self` receiver. Write the handler as a free `async fn`"
                    .to_owned(),
                receiver.to_owned()
            )]
        );
    }
}

#[test]
fn trait_method_declaration() {
    let errors = expand_errors(MacroKind::RequireAuth, "", "async fn dashboard(&self);");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].1, "&self");

    let errors = expand_errors(MacroKind::RequireAuth, "", "async fn dashboard();");
    assert_eq!(
        errors,
        [(
            "`#[require_auth]` applies to async handler functions with a body".to_owned(),
            "dashboard".to_owned()
        )]
    );
}

#[test]
fn other_items_are_named() {
    let cases = [
        (
            "struct Dashboard { id: u64 }",
            "a struct",
            "struct Dashboard",
        ),
        ("pub enum Page { A }", "an enum", "enum Page"),
        (
            "impl Handlers { async fn a() {} }",
            "an impl block",
            "impl Handlers",
        ),
        (
            "trait Handler { async fn call(&self); }",
            "a trait",
            "trait Handler",
        ),
        ("mod pages {}", "a module", "mod pages"),
        (
            "const LOGIN: &str = \"/login\";",
            "a constant",
            "const LOGIN",
        ),
        ("use axum::Json;", "a `use` declaration", "use"),
    ];

    for (item, description, target) in cases {
        let errors = expand_errors(MacroKind::RequireAuth, "", item);
        assert_eq!(
            errors,
            [(
                format!(
                    "`#[require_auth]` applies to async handler functions, not to {description}"
                ),
                target.to_owned()
            )],
            "item `{item}`"
        );
    }
}

#[test]
fn unparsable_item() {
    let errors = expand_errors(MacroKind::WithAuth, "", "async fn () {}");

    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].0.starts_with(
            "`#[with_auth]` applies to async handler functions, and this item could not be \
             parsed as one: "
        ),
        "{}",
        errors[0].0
    );
}

#[test]
fn other_guard_is_rejected() {
    let item = r#"#[with_auth] async fn dashboard() {}"#;
    let errors = expand_errors(MacroKind::RequireAuth, "", item);

    assert_eq!(
        errors,
        [(
            "`#[require_auth]` and `#[with_auth]` cannot both protect one function. \
             Keep `#[require_auth]` for pages, which redirect, or `#[with_auth]` for APIs, \
             which reject with 401 Unauthorized"
                .to_owned(),
            "#[with_auth]".to_owned()
        )]
    );
}

#[test]
fn same_guard_twice_is_rejected() {
    let item = r#"#[doc = "Dashboard."] #[roq_auth::axum::require_auth(redirect_to = "/a")] async fn dashboard() {}"#;
    let errors = expand_errors(MacroKind::RequireAuth, "", item);

    assert_eq!(
        errors,
        [(
            "`#[require_auth]` is applied more than once to this function. Remove one".to_owned(),
            r#"#[roq_auth::axum::require_auth(redirect_to = "/a")]"#.to_owned()
        )]
    );
}

#[test]
fn similar_attribute_names_are_ignored() {
    let item = "#[require_auth_extra] #[get(\"/\")] async fn dashboard() {}";
    let expanded = expand_ok(MacroKind::RequireAuth, "", item);

    assert_eq!(expanded.handler.attrs.len(), 2);
}

#[test]
fn adapter_error_is_reported() {
    let adapter = Err(syn::Error::new(
        Span::call_site(),
        "could not find `roq-auth`",
    ));
    let result = try_expand(
        MacroKind::WithAuth,
        adapter,
        TokenStream::new(),
        tokens("async fn me() {}"),
    );

    let errors = messages_and_targets(result.expect_err("the adapter is missing"));
    assert_eq!(
        errors,
        [(
            "could not find `roq-auth`".to_owned(),
            "<call site>".to_owned()
        )]
    );
}

#[test]
fn all_errors_are_collected() {
    let adapter = Err(syn::Error::new(
        Span::call_site(),
        "could not find `roq-auth`",
    ));
    let item = "#[with_auth] fn dashboard() {}";
    let result = try_expand(
        MacroKind::RequireAuth,
        adapter,
        tokens("redirectTo = \"/a\""),
        tokens(item),
    );

    let targets: Vec<String> = messages_and_targets(result.expect_err("four problems"))
        .into_iter()
        .map(|(_, target)| target)
        .collect();
    assert_eq!(targets, ["redirectTo", "fn", "#[with_auth]", "<call site>"]);
}

#[test]
fn error_output_keeps_original_item() {
    let item = "/// Dashboard.\npub fn dashboard(session: Session) -> Html<String> { todo!() }";
    let output = expand(
        MacroKind::RequireAuth,
        adapter(),
        tokens("cache"),
        tokens(item),
    );
    let file: File = syn::parse2(output).expect("output should parse as items");

    let original: ItemFn = syn::parse_str(item).expect("test item should parse");
    let Item::Fn(emitted) = &file.items[0] else {
        panic!("the first item should be the original function");
    };
    assert_eq!(text(emitted), text(&original));

    let macros: Vec<String> = file.items[1..]
        .iter()
        .map(|item| match item {
            Item::Macro(item) => text(&item.mac.path),
            other => panic!(
                "expected only `compile_error!` after the function, got `{}`",
                text(other)
            ),
        })
        .collect();
    assert_eq!(
        macros,
        [":: core :: compile_error", ":: core :: compile_error"]
    );
}

#[test]
fn error_output_keeps_declaration_without_body() {
    let item = "async fn me(&self);";
    let output = expand(
        MacroKind::WithAuth,
        adapter(),
        TokenStream::new(),
        tokens(item),
    );

    assert!(
        output.to_string().starts_with("async fn me (& self) ;"),
        "{output}"
    );
}

#[test]
fn error_output_keeps_non_function_item() {
    let item = "struct Dashboard;";
    let output = expand(
        MacroKind::WithAuth,
        adapter(),
        TokenStream::new(),
        tokens(item),
    );

    assert!(
        output.to_string().starts_with("struct Dashboard ;"),
        "{output}"
    );
    assert!(output.to_string().contains("compile_error"), "{output}");
}
