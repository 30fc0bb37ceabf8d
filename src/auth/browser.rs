//! Without `[auth]`, whoever reaches the port is the fixed principal and calls Bedrock with the
//! proxy's credentials. That is the point for an app on the same host, but a web page the developer
//! opens can reach `localhost` too: with a cross-site form or `fetch` (the browser sends it, the
//! answer does not matter), or through DNS rebinding (a name the attacker controls resolving to
//! 127.0.0.1, so the page is "same origin" with the proxy). Browsers always say where a request comes
//! from (`Host`, `Origin`, `Sec-Fetch-Site`), and SDKs never send cross-site values, so these are
//! refused: a `Host` that is neither loopback nor a configured name, a foreign `Origin`, and
//! `Sec-Fetch-Site: cross-site`.

use http::header::{HOST, ORIGIN};
use http::HeaderMap;

use super::AuthError;

/// Refuses a request a browser sent on behalf of another site (see the module docs).
pub(super) fn refuse_browsers(
    headers: &HeaderMap,
    local_names: &[String],
) -> Result<(), AuthError> {
    let mut hosts = headers.get_all(HOST).iter();
    // HTTP/2 clients may name the host in `:authority` only; no browser omits `Host` otherwise.
    if let Some(host) = hosts.next() {
        let host = host.to_str().map_err(|_| refused_host())?;
        if hosts.next().is_some() || !is_local(host_name(host), local_names) {
            return Err(refused_host());
        }
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(AuthError::BrowserRefused(
            "cross-site browser requests are refused: without [auth], only local programs may call bedrock-guard",
        ));
    }
    for origin in headers.get_all(ORIGIN) {
        let local = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, rest)| is_local(host_name(rest), local_names));
        if !local {
            return Err(AuthError::BrowserRefused(
                "requests from a web page of another origin are refused: without [auth], only local programs may call bedrock-guard",
            ));
        }
    }
    Ok(())
}

fn refused_host() -> AuthError {
    AuthError::BrowserRefused(
        "the Host header must name a loopback address or one of [auth] local_host_names",
    )
}

/// `name:port`, `[v6]:port`, `name` -> the name (IPv6 keeps its brackets off).
fn host_name(authority: &str) -> &str {
    let authority = authority.trim_end_matches('/');
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or("", |(v6, _)| v6);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(name, _port)| name)
}

fn is_local(name: &str, local_names: &[String]) -> bool {
    let name = name.trim_end_matches('.');
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    local_names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_local_hosts_and_same_site_origins() {
        let names = vec!["dev-box.internal".to_owned()];
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("host", "127.0.0.1:8787")], true),
            (&[("host", "127.9.9.9")], true),
            (&[("host", "localhost:8787")], true),
            (&[("host", "LOCALHOST.")], true),
            (&[("host", "[::1]:8787")], true),
            (&[("host", "dev-box.internal:8787")], true),
            (&[("host", "rebind.attacker.example")], false),
            (&[("host", "rebind.attacker.example:8787")], false),
            (&[("host", "10.0.0.1:8787")], false),
            (&[("host", "[::2]:8787")], false),
            (&[("host", "localhost.attacker.example")], false),
            (&[("host", "127.0.0.1"), ("host", "evil.example")], false),
            (
                &[
                    ("host", "127.0.0.1:8787"),
                    ("origin", "http://localhost:3000"),
                ],
                true,
            ),
            (
                &[
                    ("host", "127.0.0.1:8787"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            (&[("host", "127.0.0.1:8787"), ("origin", "null")], false),
            (
                &[("host", "127.0.0.1:8787"), ("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                &[
                    ("host", "127.0.0.1:8787"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
            (
                &[("host", "127.0.0.1:8787"), ("sec-fetch-site", "none")],
                true,
            ),
        ];
        for (headers, accepted) in cases {
            let mut map = HeaderMap::new();
            for (name, value) in *headers {
                map.append(*name, HeaderValue::from_static(value));
            }
            let result = refuse_browsers(&map, &names);
            assert_eq!(result.is_ok(), *accepted, "{headers:?}: {result:?}");
            if let Err(err) = result {
                assert_eq!(err.code(), "AccessDeniedException");
            }
        }
    }
}
