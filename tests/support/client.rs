//! The SDK client applications use: `aws-sdk-bedrockruntime` with an endpoint override, signing with
//! client credentials that must never reach upstream. Retries are off so each test sees the first answer.

use aws_sdk_bedrockruntime::config::{Credentials, Region};
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use aws_sdk_bedrockruntime::Client;

pub const CLIENT_ACCESS_KEY: &str = "AKIDCLIENTEXAMPLE";
pub const CLIENT_SECRET: &str = "client/secret/KEY";
pub const CLIENT_TOKEN: &str = "client-session-token";

pub fn sdk_client(endpoint: &str) -> Client {
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            CLIENT_ACCESS_KEY,
            CLIENT_SECRET,
            Some(CLIENT_TOKEN.into()),
            None,
            "test-client",
        ))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

pub fn user_message(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

/// A refused call's `(code, message)`, from its service error (`err.into_service_error()`).
pub fn code_and_message(err: impl ProvideErrorMetadata) -> (String, String) {
    (
        err.code().unwrap_or_default().to_owned(),
        err.message().unwrap_or_default().to_owned(),
    )
}
