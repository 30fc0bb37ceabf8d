//! The connection pool to Bedrock Runtime and the one call that sends a signed request through it.
//!
//! The client only ever talks to the configured endpoint: no redirects are followed and no proxy from the
//! environment is used, so nothing a caller sends can steer the proxy's credentials elsewhere.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

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
    /// Scheme and authority, no trailing slash; may contain `{region}`, replaced per request (for
    /// SigV4 clients whose credential scope selects another allowed region).
    base: String,
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
        Ok(Self {
            client,
            base: endpoint.trim_end_matches('/').to_owned(),
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
    pub fn url(&self, region: &str, path_and_query: &str) -> String {
        let base = self.base.replace(REGION_PLACEHOLDER, region);
        let mut url = String::with_capacity(base.len() + path_and_query.len());
        url.push_str(&base);
        url.push_str(path_and_query);
        url
    }

    /// Sends a signed request and waits for the response headers (not the body: it streams).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, UpstreamError> {
        let request = self.client.request(method, url).headers(headers).body(body);
        match tokio::time::timeout(self.response_timeout, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => Err(self.classify(err)),
            Err(_elapsed) => Err(UpstreamError::Timeout {
                endpoint: self.base.clone(),
                seconds: self.response_timeout.as_secs(),
            }),
        }
    }

    fn classify(&self, err: reqwest::Error) -> UpstreamError {
        let detail = error_chain(&err);
        let endpoint = self.base.clone();
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

    #[test]
    fn urls_join_without_double_slashes() {
        let up = Upstream::new(&UpstreamConfig::default(), "http://127.0.0.1:9/").unwrap();
        assert_eq!(
            up.url("us-east-1", "/model/x/invoke"),
            "http://127.0.0.1:9/model/x/invoke"
        );
        let regional = Upstream::new(
            &UpstreamConfig::default(),
            "https://bedrock-runtime.{region}.amazonaws.com",
        )
        .unwrap();
        assert!(regional.is_regional_template());
        assert_eq!(
            regional.url("eu-west-1", "/model/x/invoke"),
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/x/invoke"
        );
    }
}
