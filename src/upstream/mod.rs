//! The connection pool to Bedrock Runtime and the one call that sends a signed request through it.
//!
//! The client only ever talks to the configured endpoint: no redirects are followed and no proxy from the
//! environment is used, so nothing a caller sends can steer the proxy's credentials elsewhere.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::Url;

use crate::config::UpstreamConfig;

mod idle;

pub use idle::{IdleTimeout, UpstreamBodyError};

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

/// The forwarding client: hyper's pooled client under a rustls connector, without reqwest's layers
/// (URL parsing, header merging, redirect and proxy machinery), which cost about a tenth of the
/// proxy's user-space CPU per call (docs/DESIGN.md, "Upstream client").
type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Debug, Clone)]
pub struct Upstream {
    /// One pool per serving thread (`crate::workers`), then one for every other thread: a pooled
    /// connection's task runs where it was opened, so sharing one pool across threads would bring
    /// back a cross-thread wake-up per request.
    clients: Vec<HttpsClient>,
    /// HTTP/2 only, for InvokeModelWithBidirectionalStream, whose request body keeps flowing while
    /// the response streams back. No read timeout: a live session may be quiet for a while (its length
    /// is capped by `http::bidi`).
    duplex: reqwest::Client,
    /// Scheme and authority, no trailing slash; may contain `{region}`, replaced per request (for
    /// SigV4 clients whose credential scope selects another allowed region).
    base: String,
    response_timeout: Duration,
    /// Longest silence between two response body frames.
    idle_timeout: Duration,
}

const USER_AGENT: &str = concat!("bedrock-guard/", env!("CARGO_PKG_VERSION"));

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

/// Public CA roots (the same set reqwest's rustls default uses) with the ring provider named
/// explicitly: the dependency tree also carries aws-lc-rs, so rustls cannot pick one by itself.
fn tls_config() -> Result<rustls::ClientConfig, UpstreamError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| UpstreamError::Build(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

impl Upstream {
    pub fn new(
        config: &UpstreamConfig,
        endpoint: &str,
        worker_threads: usize,
    ) -> Result<Self, UpstreamError> {
        let mut http = HttpConnector::new();
        // The connector also carries https URLs to the TLS layer.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_millis(config.connect_timeout_ms)));
        // ALPN offers h2 and http/1.1 over TLS (Bedrock answers h2); plain http is HTTP/1.1.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let clients = (0..=worker_threads)
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_timer(TokioTimer::new())
                    .timer(TokioTimer::new())
                    .pool_idle_timeout(Duration::from_secs(config.pool_idle_timeout_secs))
                    .pool_max_idle_per_host(config.pool_max_idle_per_host)
                    .build(https.clone())
            })
            .collect();
        // Prior knowledge: h2c on a plain-http endpoint (tests, sidecar doubles), and only `h2` in
        // ALPN over TLS, which Bedrock offers.
        let duplex = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .http2_prior_knowledge()
            .tcp_nodelay(true)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| UpstreamError::Build(e.to_string()))?;
        let base = endpoint.trim_end_matches('/').to_owned();
        Ok(Self {
            clients,
            duplex,
            base,
            response_timeout: Duration::from_secs(config.response_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
        })
    }

    /// This thread's pool.
    fn client(&self) -> &HttpsClient {
        let index = crate::workers::current().map_or(0, |worker| worker + 1);
        match self.clients.get(index) {
            Some(client) => client,
            None => &self.clients[0],
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether the endpoint follows the request's region.
    pub fn is_regional_template(&self) -> bool {
        self.base.contains(REGION_PLACEHOLDER)
    }

    /// The full URL in `region` for an already canonical `path_and_query`, as text: it is signed as
    /// it is, then sent ([`Upstream::send`]).
    pub fn target(&self, region: &str, path_and_query: &str) -> String {
        if self.is_regional_template() {
            let mut target = self.base.replace(REGION_PLACEHOLDER, region);
            target.push_str(path_and_query);
            return target;
        }
        let mut target = String::with_capacity(self.base.len() + path_and_query.len());
        target.push_str(&self.base);
        target.push_str(path_and_query);
        target
    }

    /// The full URL in `region` for an already canonical `path_and_query`, parsed (the bidirectional
    /// stream's client takes a [`Url`]).
    pub fn url(&self, region: &str, path_and_query: &str) -> Result<Url, UpstreamError> {
        Url::parse(&self.target(region, path_and_query)).map_err(|e| UpstreamError::Broken {
            endpoint: self.base.clone(),
            detail: format!("invalid upstream URL: {e}"),
        })
    }

    /// Sends a signed request to `target` (from [`Upstream::target`]) and waits for the response
    /// headers (not the body: it streams, each frame within the idle timeout).
    pub async fn send(
        &self,
        method: Method,
        target: String,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<IdleTimeout<Incoming>>, UpstreamError> {
        let uri = match Uri::try_from(target) {
            Ok(uri) => uri,
            Err(e) => {
                return Err(UpstreamError::Broken {
                    endpoint: self.base.clone(),
                    detail: format!("invalid upstream URL: {e}"),
                })
            }
        };
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.headers_mut() = headers;
        request.headers_mut().insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        );
        // Errors name the URL actually tried (no query): the base may be a `{region}` template.
        let endpoint = || match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{}", uri.path()),
            _ => self.base.clone(),
        };
        *request.uri_mut() = uri.clone();
        match tokio::time::timeout(self.response_timeout, self.client().request(request)).await {
            Ok(Ok(response)) => Ok(response.map(|body| IdleTimeout::new(body, self.idle_timeout))),
            Ok(Err(err)) => {
                let endpoint = endpoint();
                let detail = error_chain(&err);
                Err(if err.is_connect() {
                    UpstreamError::Connect { endpoint, detail }
                } else {
                    UpstreamError::Broken { endpoint, detail }
                })
            }
            Err(_elapsed) => Err(UpstreamError::Timeout {
                endpoint: endpoint(),
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
            Ok(Err(err)) => Err(self.classify_duplex(err, endpoint)),
            Err(_elapsed) => Err(UpstreamError::Timeout {
                endpoint,
                seconds: self.response_timeout.as_secs(),
            }),
        }
    }

    fn classify_duplex(&self, err: reqwest::Error, endpoint: String) -> UpstreamError {
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
            1,
        )
        .unwrap();
        let target = up.target("eu-west-3", "/model/x/invoke");
        assert_eq!(
            target,
            format!("http://127.0.0.1:{port}/eu-west-3/model/x/invoke")
        );
        let err = up
            .send(
                Method::POST,
                target + "?q=1",
                HeaderMap::new(),
                Bytes::new(),
            )
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
        let up = Upstream::new(&UpstreamConfig::default(), "http://127.0.0.1:9/", 1).unwrap();
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
            Upstream::new(&UpstreamConfig::default(), "http://127.0.0.1:9/bedrock/", 1).unwrap();
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
            1,
        )
        .unwrap();
        assert!(regional.is_regional_template());
        // The text that is signed and sent is the same URL.
        for (up, region, path) in [
            (&up, "us-east-1", "/model/a.b-v1%3A0/converse?x=1%2F2"),
            (&prefixed, "us-east-1", "/model/x/invoke"),
            (&regional, "eu-west-1", "/model/x/invoke"),
        ] {
            assert_eq!(
                up.target(region, path),
                up.url(region, path).unwrap().as_str()
            );
        }
        assert_eq!(
            regional
                .url("eu-west-1", "/model/x/invoke")
                .unwrap()
                .as_str(),
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/x/invoke"
        );
    }
}
