//! Building the HTTP responses of the auth routes and guards, and reading
//! and writing their cookies.

use bytes::Bytes;
use cookie::{Cookie, SameSite};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

/// The value of `Cache-Control` on every response that sets or depends on a
/// session: a shared cache must never serve one user's page to another.
pub const NO_STORE: &str = "private, no-store";

/// Returns every value of the cookie `name` in the request's `Cookie`
/// headers, in order. A request may carry several cookies of one name, for
/// example when another subdomain planted one.
pub(crate) fn cookie_values<'a>(
    headers: &'a HeaderMap,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |cookie| cookie.name_raw() == Some(name))
        .filter_map(|cookie| cookie.value_raw())
}

/// Returns the names of the cookies in the request's `Cookie` headers that
/// start with `prefix`.
pub(crate) fn cookie_names_with_prefix<'a>(
    headers: &'a HeaderMap,
    prefix: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter_map(|cookie| cookie.name_raw())
        .filter(move |name| name.starts_with(prefix))
}

/// Attributes shared by the cookies an application sets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CookieScope<'a> {
    pub(crate) path: &'a str,
    pub(crate) domain: Option<&'a str>,
    pub(crate) secure: bool,
}

/// Builds a `Set-Cookie` value that stores `value` for `max_age` seconds.
/// Cookies are HttpOnly and SameSite=Lax: Lax still sends them on the
/// top-level redirect back from the provider, and keeps them off cross-site
/// subrequests.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    scope: CookieScope<'_>,
    max_age: u64,
) -> HeaderValue {
    let mut cookie = Cookie::build((name, value))
        .path(scope.path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(scope.secure)
        .max_age(cookie::time::Duration::seconds(
            max_age.min(i64::MAX as u64) as i64,
        ));
    if let Some(domain) = scope.domain {
        cookie = cookie.domain(domain);
    }
    header_value(cookie.build())
}

/// Builds a `Set-Cookie` value that removes the cookie `name`. A browser
/// removes a cookie only when name, path and domain all match, so the
/// removal repeats the attributes it was set with.
pub(crate) fn remove_cookie(name: &str, scope: CookieScope<'_>) -> HeaderValue {
    let mut cookie = Cookie::build((name, ""))
        .path(scope.path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(scope.secure)
        .max_age(cookie::time::Duration::ZERO)
        .expires(cookie::time::OffsetDateTime::UNIX_EPOCH);
    if let Some(domain) = scope.domain {
        cookie = cookie.domain(domain);
    }
    header_value(cookie.build())
}

fn header_value(cookie: Cookie<'_>) -> HeaderValue {
    HeaderValue::from_str(&cookie.to_string())
        .expect("cookie names and values are checked tokens and base64url")
}

/// A response under construction, with `Set-Cookie` headers kept separate.
pub(crate) struct ResponseBuilder {
    response: Response<Bytes>,
}

impl ResponseBuilder {
    pub(crate) fn new(status: StatusCode) -> ResponseBuilder {
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
        ResponseBuilder { response }
    }

    pub(crate) fn redirect(location: &str) -> ResponseBuilder {
        let mut builder = ResponseBuilder::new(StatusCode::SEE_OTHER);
        match HeaderValue::from_str(location) {
            Ok(value) => {
                builder.response.headers_mut().insert(LOCATION, value);
            }
            Err(_) => {
                // Locations are built from validated paths and percent-encoded
                // URLs, so this is a bug; fall back to the root page.
                tracing::error!("redirect location is not a valid header value");
                builder
                    .response
                    .headers_mut()
                    .insert(LOCATION, HeaderValue::from_static("/"));
            }
        }
        builder
    }

    pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> ResponseBuilder {
        let mut builder = ResponseBuilder::new(status);
        builder
            .response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        *builder.response.body_mut() = Bytes::from(body.to_string());
        builder
    }

    pub(crate) fn html(status: StatusCode, body: String) -> ResponseBuilder {
        let mut builder = ResponseBuilder::new(status);
        builder.response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        *builder.response.body_mut() = Bytes::from(body);
        builder
    }

    pub(crate) fn cookie(mut self, set_cookie: HeaderValue) -> ResponseBuilder {
        // Each cookie is its own header: joining them with commas breaks
        // `Expires` dates, which contain commas.
        self.response.headers_mut().append(SET_COOKIE, set_cookie);
        self
    }

    pub(crate) fn header(mut self, name: http::HeaderName, value: &'static str) -> ResponseBuilder {
        self.response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
        self
    }

    pub(crate) fn build(self) -> Response<Bytes> {
        self.response
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
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

/// Builds a minimal error page. `title` and `detail` are escaped here, so callers
/// may pass text from the request.
pub(crate) fn error_page(
    status: StatusCode,
    title: &str,
    detail: &str,
    retry_href: Option<&str>,
) -> ResponseBuilder {
    let retry = retry_href
        .map(|href| {
            format!(
                "<p><a href=\"{}\">Try signing in again</a></p>",
                escape_html(href)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body><h1>{title}</h1>\n<p>{detail}</p>\n{retry}</body></html>\n",
        title = escape_html(title),
        detail = escape_html(detail),
    );
    ResponseBuilder::html(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_finds_every_occurrence() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; roq=x; b=2"),
        );
        headers.append(http::header::COOKIE, HeaderValue::from_static("roq=y"));
        let values: Vec<_> = cookie_values(&headers, "roq").collect();
        assert_eq!(values, ["x", "y"]);
    }

    #[test]
    fn set_cookie_has_secure_defaults() {
        let scope = CookieScope {
            path: "/",
            domain: Some("example.com"),
            secure: true,
        };
        let value = set_cookie("roq_session", "abc", scope, 60);
        let text = value.to_str().unwrap();
        for attribute in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=60",
            "Domain=example.com",
        ] {
            assert!(text.contains(attribute), "{attribute} missing from {text}");
        }
        let insecure = set_cookie(
            "roq_session",
            "abc",
            CookieScope {
                path: "/",
                domain: None,
                secure: false,
            },
            60,
        );
        assert!(!insecure.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn remove_cookie_repeats_name_and_path() {
        let value = remove_cookie(
            "roq_tx",
            CookieScope {
                path: "/api/auth/callback",
                domain: None,
                secure: false,
            },
        );
        let text = value.to_str().unwrap();
        assert!(text.starts_with("roq_tx=;"), "{text}");
        assert!(text.contains("Path=/api/auth/callback"), "{text}");
        assert!(text.contains("Max-Age=0"), "{text}");
    }

    #[test]
    fn error_page_escapes_markup() {
        let response = error_page(
            StatusCode::BAD_REQUEST,
            "Failed",
            "<script>alert('x')</script>",
            None,
        )
        .build();
        let body = std::str::from_utf8(response.body()).unwrap();
        assert!(!body.contains("<script>"), "{body}");
        assert!(
            body.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"),
            "{body}"
        );
    }
}
