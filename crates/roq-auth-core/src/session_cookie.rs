//! Storing a sealed session in one cookie, or in numbered chunk cookies when
//! it is too large for one.
//!
//! Browsers drop a cookie whose name and value exceed 4096 bytes, silently.
//! A larger session is split into `NAME.0`, `NAME.1`, …, joined again on
//! read. Each write also removes the cookies a previous, differently sized
//! session left behind.

use std::borrow::Cow;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

#[cfg(doc)]
use crate::response::cookie_values;
use crate::response::{cookie_names_with_prefix, remove_cookie, set_cookie, CookieScope};

/// Maximum length of the value put in one cookie. It leaves room for the name and the
/// attributes within the 4096 bytes browsers accept for a `Set-Cookie`.
pub(crate) const MAX_CHUNK_LEN: usize = 3800;

/// Maximum number of chunks a session may take. Five chunks (about 19 KB)
/// already make every request carry that much. Past it the library rejects
/// the sign-in rather than send cookies that a proxy may reject with 431.
pub(crate) const MAX_CHUNKS: usize = 5;

/// The sealed session does not fit in the cookies a browser reliably keeps.
///
/// Keep large claims out of the session with
/// [`ConfigBuilder::claims`](crate::ConfigBuilder::claims).
#[derive(Debug, thiserror::Error)]
#[error("the session is {length} bytes once sealed, more than the {max} bytes {MAX_CHUNKS} cookies can carry")]
pub struct SessionTooLarge {
    length: usize,
    max: usize,
}

/// The session cookie of one application: its name and attributes.
pub(crate) struct SessionCookie<'a> {
    pub(crate) name: &'a str,
    pub(crate) scope: CookieScope<'a>,
}

impl SessionCookie<'_> {
    /// Returns the sealed values the request carries: the single cookie's
    /// values, then the joined chunks, if complete. The chunks are only
    /// looked for once the single values are used up, so a request with a
    /// valid single cookie allocates nothing here.
    ///
    /// The values are bytes as sent, not checked to be UTF-8: a cache
    /// lookup needs none, and unsealing rejects anything but base64url.
    pub(crate) fn read<'h>(
        &'h self,
        headers: &'h HeaderMap,
    ) -> impl Iterator<Item = Cow<'h, [u8]>> {
        let singles = raw_cookie_values(headers, self.name).map(Cow::Borrowed);
        let joined = std::iter::once_with(move || self.joined_chunks(headers))
            .flatten()
            .map(Cow::Owned);
        singles.chain(joined)
    }

    fn joined_chunks(&self, headers: &HeaderMap) -> Option<Vec<u8>> {
        let mut joined = Vec::new();
        for index in 0..MAX_CHUNKS {
            let chunk_name = chunk_name(self.name, index);
            let Some(chunk) = raw_cookie_values(headers, &chunk_name).next() else {
                break;
            };
            joined.extend_from_slice(chunk);
        }
        (!joined.is_empty()).then_some(joined)
    }

    /// Returns whether the request carries any cookie of this session,
    /// whole or in chunks.
    pub(crate) fn is_present(&self, headers: &HeaderMap) -> bool {
        self.present_names(headers).next().is_some()
    }

    /// Returns the `Set-Cookie` values that store `sealed` for `max_age`
    /// seconds and remove whatever cookies of an earlier session the request
    /// shows that the new one does not overwrite.
    pub(crate) fn write(
        &self,
        sealed: &str,
        max_age: u64,
        headers: &HeaderMap,
    ) -> Result<Vec<HeaderValue>, SessionTooLarge> {
        let max = MAX_CHUNK_LEN * MAX_CHUNKS;
        if sealed.len() > max {
            return Err(SessionTooLarge {
                length: sealed.len(),
                max,
            });
        }

        let mut written = Vec::new();
        let mut set_cookies = Vec::new();
        if sealed.len() <= MAX_CHUNK_LEN {
            set_cookies.push(set_cookie(self.name, sealed, self.scope, max_age));
            written.push(self.name.to_owned());
        } else {
            // Sealed values are base64url, so splitting at any byte keeps
            // every chunk ASCII.
            for (index, chunk) in sealed.as_bytes().chunks(MAX_CHUNK_LEN).enumerate() {
                let name = chunk_name(self.name, index);
                let chunk = std::str::from_utf8(chunk).expect("base64url is ASCII");
                set_cookies.push(set_cookie(&name, chunk, self.scope, max_age));
                written.push(name);
            }
        }

        for stale in self.present_names(headers) {
            if !written.iter().any(|name| name == stale) {
                set_cookies.push(remove_cookie(stale, self.scope));
            }
        }
        Ok(set_cookies)
    }

    /// Returns the `Set-Cookie` values that remove every cookie of this
    /// session the request carries, and the single cookie in any case.
    pub(crate) fn remove(&self, headers: &HeaderMap) -> Vec<HeaderValue> {
        let mut set_cookies = vec![remove_cookie(self.name, self.scope)];
        for name in self.present_names(headers) {
            if name != self.name {
                set_cookies.push(remove_cookie(name, self.scope));
            }
        }
        set_cookies
    }

    fn present_names<'h>(&'h self, headers: &'h HeaderMap) -> impl Iterator<Item = &'h str> + 'h {
        let name = self.name;
        cookie_names_with_prefix(headers, name).filter(move |candidate| {
            *candidate == name
                || candidate
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|index| index.parse::<usize>().is_ok())
        })
    }
}

fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}.{index}")
}

/// Returns every value of the cookie `name` in the request's `Cookie`
/// headers, in order, as sent.
///
/// Every request runs this, so it only splits the header at `;` and `=`
/// (with `memchr`, because the session cookie makes the header several
/// hundred bytes long) instead of parsing each cookie fully as
/// [`cookie_values`] does. The values are neither percent-decoded nor
/// checked to be UTF-8; sealed values are base64url and need neither.
fn raw_cookie_values<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h [u8]> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|header| CookiePairs {
            rest: Some(header.as_bytes()),
        })
        .filter_map(move |pair| {
            let equals = memchr::memchr(b'=', pair)?;
            let (pair_name, value) = (&pair[..equals], &pair[equals + 1..]);
            (pair_name.trim_ascii() == name.as_bytes()).then(|| value.trim_ascii())
        })
}

/// The `;`-separated pairs of one `Cookie` header, as bytes.
struct CookiePairs<'h> {
    rest: Option<&'h [u8]>,
}

impl<'h> Iterator for CookiePairs<'h> {
    type Item = &'h [u8];

    fn next(&mut self) -> Option<&'h [u8]> {
        let rest = self.rest?;
        match memchr::memchr(b';', rest) {
            Some(end) => {
                self.rest = Some(&rest[end + 1..]);
                Some(&rest[..end])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE;

    fn cookie() -> SessionCookie<'static> {
        SessionCookie {
            name: "roq_session",
            scope: CookieScope {
                path: "/",
                domain: None,
                secure: false,
            },
        }
    }

    fn request_with(set_cookies: &[HeaderValue]) -> HeaderMap {
        let pairs: Vec<String> = set_cookies
            .iter()
            .map(|value| {
                value
                    .to_str()
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .filter(|pair| !pair.ends_with('='))
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
        headers
    }

    fn read_all(headers: &HeaderMap) -> Vec<String> {
        cookie()
            .read(headers)
            .map(|value| String::from_utf8(value.into_owned()).unwrap())
            .collect()
    }

    #[test]
    fn read_finds_values_in_every_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1;roq_session=first; roq_session_other=x"),
        );
        headers.append(
            COOKIE,
            HeaderValue::from_static(" roq_session = second ;roq_session.x=y; b=c=d"),
        );
        assert_eq!(read_all(&headers), ["first", "second"]);
    }

    #[test]
    fn read_prefers_single_cookie_then_chunks() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("roq_session.1=def; roq_session=abc; roq_session.0=abc"),
        );
        assert_eq!(read_all(&headers), ["abc", "abcdef"]);
    }

    #[test]
    fn read_skips_pairs_without_value() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("roq_session; x"));
        assert!(read_all(&headers).is_empty());
        assert!(read_all(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn read_returns_non_utf8_value_as_bytes() {
        // Unsealing rejects it later, as it rejects any value that is not
        // base64url.
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_bytes(b"roq_session=\xff").unwrap(),
        );
        let values: Vec<Vec<u8>> = cookie().read(&headers).map(Cow::into_owned).collect();
        assert_eq!(values, [b"\xff".to_vec()]);
    }

    #[test]
    fn small_session_is_one_cookie() {
        let set_cookies = cookie().write("abc", 60, &HeaderMap::new()).unwrap();
        assert_eq!(set_cookies.len(), 1);
        assert!(set_cookies[0]
            .to_str()
            .unwrap()
            .starts_with("roq_session=abc;"));
        assert_eq!(read_all(&request_with(&set_cookies)), ["abc"]);
    }

    #[test]
    fn large_session_is_chunked_and_joined() {
        let sealed = "x".repeat(MAX_CHUNK_LEN * 2 + 10);
        let set_cookies = cookie().write(&sealed, 60, &HeaderMap::new()).unwrap();
        assert_eq!(set_cookies.len(), 3);
        for (index, value) in set_cookies.iter().enumerate() {
            let text = value.to_str().unwrap();
            assert!(text.starts_with(&format!("roq_session.{index}=")), "{text}");
            assert!(text.len() < 4096, "chunk {index} is {} bytes", text.len());
        }
        assert_eq!(read_all(&request_with(&set_cookies)), [sealed]);
    }

    #[test]
    fn shrinking_session_removes_leftover_chunks() {
        let large = cookie()
            .write(&"x".repeat(MAX_CHUNK_LEN * 3), 60, &HeaderMap::new())
            .unwrap();
        let request = request_with(&large);

        let small = cookie().write("abc", 60, &request).unwrap();
        let texts: Vec<&str> = small.iter().map(|value| value.to_str().unwrap()).collect();
        assert!(texts[0].starts_with("roq_session=abc;"));
        for index in 0..3 {
            let removal = texts
                .iter()
                .find(|text| text.starts_with(&format!("roq_session.{index}=;")))
                .unwrap_or_else(|| panic!("chunk {index} is not removed: {texts:?}"));
            assert!(removal.contains("Max-Age=0"), "{removal}");
        }
    }

    #[test]
    fn growing_session_removes_single_cookie() {
        let small = cookie().write("abc", 60, &HeaderMap::new()).unwrap();
        let large = cookie()
            .write(&"x".repeat(MAX_CHUNK_LEN + 1), 60, &request_with(&small))
            .unwrap();
        let texts: Vec<&str> = large.iter().map(|value| value.to_str().unwrap()).collect();
        assert!(
            texts.iter().any(|text| text.starts_with("roq_session=;")),
            "{texts:?}"
        );
    }

    #[test]
    fn oversized_session_is_refused() {
        let sealed = "x".repeat(MAX_CHUNK_LEN * MAX_CHUNKS + 1);
        assert!(cookie().write(&sealed, 60, &HeaderMap::new()).is_err());
    }

    #[test]
    fn remove_covers_every_chunk() {
        let large = cookie()
            .write(&"x".repeat(MAX_CHUNK_LEN * 2), 60, &HeaderMap::new())
            .unwrap();
        let removals = cookie().remove(&request_with(&large));
        let texts: Vec<&str> = removals
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts.iter().all(|text| text.contains("Max-Age=0")));
    }

    #[test]
    fn unrelated_cookies_with_same_prefix_are_left_alone() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("roq_session_other=1; roq_session.x=2"),
        );
        assert!(!cookie().is_present(&headers));
        assert_eq!(cookie().remove(&headers).len(), 1);
    }
}
