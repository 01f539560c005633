//! Conversions between the `http` 0.2 types of actix-web 4 and the `http` 1
//! types of the core.
//!
//! Both versions of `http` check header names, header values, methods and
//! status codes with the same rules, so every conversion copies the raw
//! bytes and parses them again. The fallible steps still log and skip
//! instead of panicking, because a future version of either crate could
//! tighten its rules.

use actix_web::http::header as actix_header;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;

/// A request that the core's request type cannot represent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestConversionError {
    /// The method is not a valid `http` 1 method.
    #[error("invalid request method")]
    Method(#[source] http::method::InvalidMethod),
    /// The request target is not a valid `http` 1 URI.
    #[error("invalid request target")]
    Uri(#[source] http::uri::InvalidUri),
}

/// Copies the method, request target, version and headers of an actix-web
/// request into the core's request parts. Extensions are not copied,
/// because the core reads none.
///
/// # Errors
///
/// A [`RequestConversionError`] when the method or the request target does
/// not parse as an `http` 1 value.
pub(crate) fn request_parts(
    request: &HttpRequest,
) -> Result<http::request::Parts, RequestConversionError> {
    let method = http::Method::from_bytes(request.method().as_str().as_bytes())
        .map_err(RequestConversionError::Method)?;
    let uri =
        http::Uri::try_from(request.uri().to_string()).map_err(RequestConversionError::Uri)?;

    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version_to_core(request.version());
    parts.headers = headers_to_core(request.headers());
    Ok(parts)
}

/// Copies actix-web request headers into an `http` 1 header map, keeping
/// every value of a repeated header in its original order. A header that
/// does not convert is dropped and logged.
pub(crate) fn headers_to_core(headers: &actix_header::HeaderMap) -> http::HeaderMap {
    let mut converted = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        let Ok(core_name) = http::HeaderName::from_bytes(name.as_str().as_bytes()) else {
            tracing::warn!(header = %name, "dropped a request header: invalid name in http 1");
            continue;
        };
        let Ok(mut core_value) = http::HeaderValue::from_bytes(value.as_bytes()) else {
            tracing::warn!(header = %name, "dropped a request header: invalid value in http 1");
            continue;
        };
        core_value.set_sensitive(value.is_sensitive());
        converted.append(core_name, core_value);
    }
    converted
}

/// Converts only the `Cookie` headers of an actix-web request, for
/// [`Auth::load_session`](roq_auth_core::Auth::load_session), which reads
/// no other header. Converting every header would copy each of them on
/// every request.
pub(crate) fn cookie_headers_to_core(headers: &actix_header::HeaderMap) -> http::HeaderMap {
    let mut converted = http::HeaderMap::new();
    for value in headers.get_all(actix_header::COOKIE) {
        match http::HeaderValue::from_bytes(value.as_bytes()) {
            Ok(mut core_value) => {
                core_value.set_sensitive(true);
                converted.append(http::header::COOKIE, core_value);
            }
            Err(_) => tracing::warn!("dropped a Cookie header: invalid value in http 1"),
        }
    }
    converted
}

/// Builds the actix-web response for a response of the core, with the same
/// status, headers and body bytes. A header that does not convert is
/// dropped and logged.
pub(crate) fn response_from_core(response: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let mut converted = HttpResponse::with_body(status_from_core(parts.status), body);
    append_headers_from_core(converted.headers_mut(), &parts.headers);
    converted.map_into_boxed_body()
}

/// The parts of a core response, kept in actix-web types so that the same
/// response can be built more than once.
#[derive(Clone)]
pub(crate) struct CoreResponse {
    status: actix_web::http::StatusCode,
    headers: actix_header::HeaderMap,
    body: Bytes,
}

impl CoreResponse {
    /// Converts a response of the core.
    pub(crate) fn new(response: http::Response<Bytes>) -> CoreResponse {
        let (parts, body) = response.into_parts();
        let mut headers = actix_header::HeaderMap::with_capacity(parts.headers.len());
        append_headers_from_core(&mut headers, &parts.headers);
        CoreResponse {
            status: status_from_core(parts.status),
            headers,
            body,
        }
    }

    pub(crate) fn status(&self) -> actix_web::http::StatusCode {
        self.status
    }

    /// Builds the response. Cloning the body is cheap: `Bytes` is
    /// reference-counted.
    pub(crate) fn to_response(&self) -> HttpResponse {
        let mut response = HttpResponse::with_body(self.status, self.body.clone());
        for (name, value) in self.headers.iter() {
            response.headers_mut().append(name.clone(), value.clone());
        }
        response.map_into_boxed_body()
    }
}

/// Appends every `http` 1 header to an actix-web header map, keeping
/// repeated headers such as `Set-Cookie` as separate values in order.
fn append_headers_from_core(target: &mut actix_header::HeaderMap, headers: &http::HeaderMap) {
    for (name, value) in headers {
        let Ok(actix_name) = actix_header::HeaderName::from_bytes(name.as_str().as_bytes()) else {
            tracing::error!(header = %name, "dropped a response header: invalid name in http 0.2");
            continue;
        };
        if let Some(actix_value) = header_value_from_core(name.as_str(), value) {
            target.append(actix_name, actix_value);
        }
    }
}

/// Converts a response header value of the core, or logs and returns
/// `None` when http 0.2 rejects it. `name` is only for the log.
pub(crate) fn header_value_from_core(
    name: &str,
    value: &http::HeaderValue,
) -> Option<actix_header::HeaderValue> {
    let Ok(mut actix_value) = actix_header::HeaderValue::from_bytes(value.as_bytes()) else {
        tracing::error!(
            header = name,
            "dropped a response header: invalid value in http 0.2"
        );
        return None;
    };
    actix_value.set_sensitive(value.is_sensitive());
    Some(actix_value)
}

/// Both versions accept the codes 100 to 999, so the fallback never runs
/// for a status the core builds.
fn status_from_core(status: http::StatusCode) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(status.as_u16()).unwrap_or_else(|_| {
        tracing::error!(
            status = status.as_u16(),
            "replaced a status that http 0.2 rejects with 500"
        );
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR
    })
}

fn version_to_core(version: actix_web::http::Version) -> http::Version {
    use actix_web::http::Version as ActixVersion;

    // `http` 0.2 models the version as a struct with constants, so this is
    // an `if` chain rather than a `match`.
    if version == ActixVersion::HTTP_09 {
        http::Version::HTTP_09
    } else if version == ActixVersion::HTTP_10 {
        http::Version::HTTP_10
    } else if version == ActixVersion::HTTP_2 {
        http::Version::HTTP_2
    } else if version == ActixVersion::HTTP_3 {
        http::Version::HTTP_3
    } else {
        http::Version::HTTP_11
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn request_parts_copy_method_target_and_headers() {
        let request = TestRequest::post()
            .uri("/api/auth/logout?returnTo=%2Fa%20b&x=1")
            .insert_header(("x-custom", "one"))
            .append_header(("cookie", "a=1"))
            .append_header(("cookie", "b=2"))
            .to_http_request();

        let parts = request_parts(&request).unwrap();

        assert_eq!(parts.method, http::Method::POST);
        assert_eq!(parts.uri, "/api/auth/logout?returnTo=%2Fa%20b&x=1");
        assert_eq!(parts.version, http::Version::HTTP_11);
        assert_eq!(parts.headers["x-custom"], "one");
        let cookies: Vec<_> = parts.headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
    }

    #[test]
    fn request_parts_keep_extension_methods() {
        let request = TestRequest::default()
            .method(actix_web::http::Method::from_bytes(b"PURGE").unwrap())
            .uri("/")
            .to_http_request();

        assert_eq!(request_parts(&request).unwrap().method.as_str(), "PURGE");
    }

    #[test]
    fn header_values_keep_raw_bytes_and_sensitivity() {
        let mut headers = actix_header::HeaderMap::new();
        let mut secret = actix_header::HeaderValue::from_bytes(b"caf\xe9").unwrap();
        secret.set_sensitive(true);
        headers.insert(actix_header::AUTHORIZATION, secret);

        let converted = headers_to_core(&headers);

        let value = &converted[http::header::AUTHORIZATION];
        assert_eq!(value.as_bytes(), b"caf\xe9");
        assert!(value.is_sensitive());
    }

    #[actix_web::test]
    async fn response_keeps_status_headers_and_body() {
        let response = http::Response::builder()
            .status(http::StatusCode::SEE_OTHER)
            .header(http::header::LOCATION, "/dashboard")
            .header(http::header::SET_COOKIE, "a=1; Path=/")
            .header(
                http::header::SET_COOKIE,
                "b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            )
            .body(Bytes::from_static(b"body"))
            .unwrap();

        let converted = response_from_core(response);

        assert_eq!(converted.status(), actix_web::http::StatusCode::SEE_OTHER);
        assert_eq!(converted.headers().get("location").unwrap(), "/dashboard");
        let cookies: Vec<_> = converted.headers().get_all("set-cookie").collect();
        assert_eq!(
            cookies,
            ["a=1; Path=/", "b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
        );
        let body = actix_web::body::to_bytes(converted.into_body())
            .await
            .unwrap();
        assert_eq!(body, "body");
    }

    #[test]
    fn core_response_builds_the_same_response_twice() {
        let response = http::Response::builder()
            .status(http::StatusCode::UNAUTHORIZED)
            .header(http::header::CACHE_CONTROL, "private, no-store")
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        let core_response = CoreResponse::new(response);

        for _ in 0..2 {
            let built = core_response.to_response();
            assert_eq!(built.status(), actix_web::http::StatusCode::UNAUTHORIZED);
            assert_eq!(
                built.headers().get("cache-control").unwrap(),
                "private, no-store"
            );
        }
    }
}
