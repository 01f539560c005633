//! HTML pages: the login form, error pages and the signed-out page.
//!
//! Every page carries the development-only warning. All dynamic text goes through [`escape`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;\
padding:0 1rem;color:#222;line-height:1.4}\
.warning{background:#fff3cd;border:1px solid #d4a000;padding:.75rem;border-radius:4px}\
.error{background:#fde2e1;border:1px solid #c0392b;padding:.75rem;border-radius:4px}\
label{display:block;margin:1rem 0 .25rem;font-weight:600}\
input[type=text]{width:100%;padding:.4rem;font-size:1rem;box-sizing:border-box}\
button{margin:1rem .5rem 0 0;padding:.4rem 1rem;font-size:1rem}\
code{word-break:break-all}";

const DEV_WARNING: &str = "<p class=\"warning\"><strong>Development only.</strong> \
This OpenID provider accepts any user name and checks no password. \
Never use it in production.</p>";

/// Escapes text for use in HTML element content and in double- or single-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Wraps already-escaped body HTML in a page with the development-only warning.
fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} (development OpenID provider)</title>\n<style>{STYLE}</style>\n</head>\n\
<body>\n<h1>{title}</h1>\n{DEV_WARNING}\n{body_html}\n</body>\n</html>\n",
        title = escape(title),
    )
}

/// Wraps page HTML in a response that browsers must not cache or frame.
pub(crate) fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Contents of the login form.
pub(crate) struct LoginForm<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// Authorization request parameters, sent back unchanged as hidden fields.
    pub hidden_fields: &'a [(&'static str, &'a str)],
    /// Value of the user name field.
    pub user_name: &'a str,
    /// Message shown above the form after an invalid user name.
    pub error: Option<&'a str>,
}

/// Renders the login form, which posts to `POST /authorize`.
pub(crate) fn login_page(form: &LoginForm<'_>) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<p>Signing in to <code>{}</code>, which will receive the result at <code>{}</code>.</p>\n",
        escape(form.client_id),
        escape(form.redirect_uri),
    ));
    if let Some(error) = form.error {
        body.push_str(&format!(
            "<p class=\"error\" role=\"alert\">{}</p>\n",
            escape(error)
        ));
    }

    body.push_str("<form method=\"post\" action=\"/authorize\">\n");
    for (name, value) in form.hidden_fields {
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape(name),
            escape(value),
        ));
    }
    body.push_str(&format!(
        "<label for=\"username\">User name (development only: any name is accepted)</label>\n\
<input type=\"text\" id=\"username\" name=\"username\" value=\"{}\" maxlength=\"64\" \
required autofocus autocomplete=\"username\">\n\
<button type=\"submit\" name=\"action\" value=\"login\">Sign in</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" formnovalidate>Cancel</button>\n\
</form>\n",
        escape(form.user_name),
    ));
    page("Sign in", &body)
}

/// Renders an error page for a request that cannot be sent back to the client.
pub(crate) fn error_page(message: &str) -> String {
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p>\n\
<p>The request was not redirected back to the application, because its client or \
redirect URI could not be verified.</p>",
        escape(message),
    );
    page("Sign-in request rejected", &body)
}

/// Renders the page shown after logout when there is no valid post-logout redirect URI.
pub(crate) fn signed_out_page(note: Option<&str>) -> String {
    let mut body = String::from("<p>You are signed out. You can close this window.</p>");
    if let Some(note) = note {
        body.push_str(&format!("\n<p>{}</p>", escape(note)));
    }
    page("Signed out", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_markup_characters() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn login_page_escapes_hidden_fields() {
        let html = login_page(&LoginForm {
            client_id: "client",
            redirect_uri: "http://127.0.0.1:1/cb",
            hidden_fields: &[("state", "\"><script>alert(1)</script>")],
            user_name: "alice",
            error: None,
        });
        assert!(!html.contains("<script>"));
        assert!(html
            .contains("name=\"state\" value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(html.contains("Development only."));
    }
}
