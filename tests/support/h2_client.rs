//! An HTTP/2-only (prior knowledge, h2c) HTTP client for the AWS SDK, as the SDK uses against an
//! `http://` endpoint for InvokeModelWithBidirectionalStream. The SDK's own client negotiates HTTP/2
//! only through TLS ALPN, and a bidirectional stream needs HTTP/2.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Debug, Clone, Default)]
pub struct H2c;

impl H2c {
    pub fn shared() -> SharedHttpClient {
        SharedHttpClient::new(H2c)
    }
}

impl HttpClient for H2c {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(H2c)
    }
}

impl HttpConnector for H2c {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let authority = request
                .uri()
                .authority()
                .map(|a| a.as_str().to_owned())
                .ok_or_else(|| ConnectorError::other("no authority".into(), None))?;
            let stream = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .map_err(|e| ConnectorError::io(e.into()))?;
            tokio::spawn(connection);
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let response = response.map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}
