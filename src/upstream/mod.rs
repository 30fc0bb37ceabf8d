//! The connection pool to Bedrock Runtime and the one call that sends a signed request through it.
//!
//! The client only ever talks to the configured endpoint: no redirects are followed and no proxy from the
//! environment is used, so nothing a caller sends can steer the proxy's credentials elsewhere.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use reqwest::Url;

use crate::config::UpstreamConfig;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to Bedrock at {endpoint}: {detail}")]
    Connect { endpoint: String, detail: String },
    #[error("Bedrock at {endpoint} did not answer within {seconds} s")]
    Timeout { endpoint: String, seconds: u64 },
    #[error("the connection to Bedrock at {endpoint} failed: {detail}")]
    Broken { endpoint: String, detail: String },
    #[error("cannot build the upstream HTTP client: {0}")]
    Build(String),
}

#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    /// HTTP/2 only, for InvokeModelWithBidirectionalStream, whose request body keeps flowing while
    /// the response streams back. No read timeout: a live session may be quiet for a while (its length
    /// is capped by `http::bidi`).
    duplex: reqwest::Client,
    /// Scheme and authority, no trailing slash; may contain `{region}`, replaced per request (for
    /// SigV4 clients whose credential scope selects another allowed region).
    base: String,
    /// `base` parsed once when it is a fixed origin (no path, no `{region}`): most URLs are then made
    /// by setting the path on a copy, instead of parsing scheme, host and port on every request
    /// (about 9% of the proxy's instructions per call in the callgrind profile).
    origin: Option<Url>,
    response_timeout: Duration,
}

/// Placeholder in an endpoint template.
pub const REGION_PLACEHOLDER: &str = "{region}";

/// The public endpoint for a region (China regions live under `.amazonaws.com.cn`).
pub fn default_endpoint(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("https://bedrock-runtime.{region}.amazonaws.com.cn")
    } else {
        format!("https://bedrock-runtime.{region}.amazonaws.com")
    }
}

impl Upstream {
    pub fn new(config: &UpstreamConfig, endpoint: &str) -> Result<Self, UpstreamError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .read_timeout(Duration::from_secs(config.idle_timeout_secs))
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(config.pool_idle_timeout_secs))
            .tcp_nodelay(true)
            .user_agent(concat!("bedrock-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Build(e.to_string()))?;
        // Prior knowledge: h2c on a plain-http endpoint (tests, sidecar doubles), and only `h2` in
        // ALPN over TLS, which Bedrock offers.
        let duplex = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .http2_prior_knowledge()
            .tcp_nodelay(true)
            .user_agent(concat!("bedrock-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Build(e.to_string()))?;
        let base = endpoint.trim_end_matches('/').to_owned();
        let origin = Url::parse(&base).ok().filter(|url| {
            url.path() == "/" && url.query().is_none() && !base.contains(REGION_PLACEHOLDER)
        });
        Ok(Self {
            client,
            duplex,
            base,
            origin,
            response_timeout: Duration::from_secs(config.response_timeout_secs),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether the endpoint follows the request's region.
    pub fn is_regional_template(&self) -> bool {
        self.base.contains(REGION_PLACEHOLDER)
    }

    /// The full URL in `region` for an already canonical `path_and_query`.
    pub fn url(&self, region: &str, path_and_query: &str) -> Result<Url, UpstreamError> {
        if let Some(origin) = &self.origin {
            let (path, query) = match path_and_query.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (path_and_query, None),
            };
            let mut url = origin.clone();
            url.set_path(path);
            url.set_query(query);
            return Ok(url);
        }
        let base = self.base.replace(REGION_PLACEHOLDER, region);
        Url::parse(&format!("{base}{path_and_query}")).map_err(|e| UpstreamError::Broken {
            endpoint: self.base.clone(),
            detail: format!("invalid upstream URL: {e}"),
        })
    }

    /// Sends a signed request and waits for the response headers (not the body: it streams).
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, UpstreamError> {
        // Errors name the URL actually tried (no query): the base may be a `{region}` template.
        let mut tried = url.clone();
        tried.set_query(None);
        let endpoint = tried.to_string();
        let request = self.client.request(method, url).headers(headers).body(body);
        match tokio::time::timeout(self.response_timeout, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => Err(self.classify(err, endpoint)),
            Err(_elapsed) => Err(UpstreamError::Timeout {
                endpoint,
                seconds: self.response_timeout.as_secs(),
            }),
        }
    }

    /// Opens a bidirectional stream: `body` keeps streaming after the response headers arrive.
    pub async fn send_duplex(
        &self,
        url: Url,
        headers: HeaderMap,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, UpstreamError> {
        // Errors name the URL actually tried (no query): the base may be a `{region}` template.
        let mut tried = url.clone();
        tried.set_query(None);
        let endpoint = tried.to_string();
        let request = self
            .duplex
            .request(Method::POST, url)
            .headers(headers)
            .body(body);
        match tokio::time::timeout(self.response_timeout, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => Err(self.classify(err, endpoint)),
            Err(_elapsed) => Err(UpstreamError::Timeout {
                endpoint,
                seconds: self.response_timeout.as_secs(),
            }),
        }
    }

    fn classify(&self, err: reqwest::Error, endpoint: String) -> UpstreamError {
        let detail = error_chain(&err);
        if err.is_timeout() {
            UpstreamError::Timeout {
                endpoint,
                seconds: self.response_timeout.as_secs(),
            }
        } else if err.is_connect() {
            UpstreamError::Connect { endpoint, detail }
        } else {
            UpstreamError::Broken { endpoint, detail }
        }
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_endpoints() {
        assert_eq!(
            default_endpoint("us-east-1"),
            "https://bedrock-runtime.us-east-1.amazonaws.com"
        );
        assert_eq!(
            default_endpoint("cn-north-1"),
            "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"
        );
    }

    /// A connect failure names the endpoint it tried, region filled in, never the template.
    #[tokio::test]
    async fn connect_errors_name_the_filled_in_endpoint() {
        let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = refused.local_addr().unwrap().port();
        drop(refused);
        let up = Upstream::new(
            &UpstreamConfig::default(),
            &format!("http://127.0.0.1:{port}/{REGION_PLACEHOLDER}"),
        )
        .unwrap();
        let url = up.url("eu-west-3", "/model/x/invoke").unwrap();
        assert_eq!(url.path(), "/eu-west-3/model/x/invoke");
        let err = up
            .send(Method::POST, url, HeaderMap::new(), Bytes::new())
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, UpstreamError::Connect { .. }), "{message}");
        assert!(
            message.starts_with(&format!(
                "cannot connect to Bedrock at http://127.0.0.1:{port}/eu-west-3/model/x/invoke:"
            )),
            "{message}"
        );
        assert!(!message.contains(REGION_PLACEHOLDER), "{message}");
    }

    #[test]
    fn urls_join_without_double_slashes() {
        let up = Upstream::new(&UpstreamConfig::default(), "http://127.0.0.1:9/").unwrap();
        assert_eq!(
            up.url("us-east-1", "/model/x/invoke").unwrap().as_str(),
            "http://127.0.0.1:9/model/x/invoke"
        );
        // Percent-encoding and queries survive as given (model ids carry `%3A`).
        assert_eq!(
            up.url("us-east-1", "/model/a.b-v1%3A0/converse?x=1%2F2")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/model/a.b-v1%3A0/converse?x=1%2F2"
        );
        // A base with a path keeps it.
        let prefixed =
            Upstream::new(&UpstreamConfig::default(), "http://127.0.0.1:9/bedrock/").unwrap();
        assert_eq!(
            prefixed
                .url("us-east-1", "/model/x/invoke")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/bedrock/model/x/invoke"
        );
        let regional = Upstream::new(
            &UpstreamConfig::default(),
            "https://bedrock-runtime.{region}.amazonaws.com",
        )
        .unwrap();
        assert!(regional.is_regional_template());
        assert_eq!(
            regional
                .url("eu-west-1", "/model/x/invoke")
                .unwrap()
                .as_str(),
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/x/invoke"
        );
    }
}
