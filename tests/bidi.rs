//! InvokeModelWithBidirectionalStream through the guard with the real Rust SDK over HTTP/2 (h2c):
//! every inbound frame is verified against the client's chain and re-signed into the proxy's, which
//! the double checks frame by frame; events flow both ways one at a time; denials, a mid-session
//! upstream failure and a client that goes away mid-session.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_bedrockruntime::config::{Credentials, Region};
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::InvokeModelWithBidirectionalStreamInputError;
use aws_sdk_bedrockruntime::types::{
    BidirectionalInputPayloadPart, InvokeModelWithBidirectionalStreamInput as Input,
    InvokeModelWithBidirectionalStreamOutput as Output,
};
use aws_sdk_bedrockruntime::Client;
use bedrock_guard::config::{AccessKeyEntry, Config};
use serde_json::Value;
use support::bidi_double::{BidiDouble, BidiMode};
use support::guard::{start_guard, GuardOptions, RunningGuard, FULL_ACCESS};
use support::h2_client::H2c;
use support::thread_logs::{capture, ThreadLogs};
use support::BedrockDouble;
use tokio::sync::mpsc;

const REGION: &str = "us-east-1";
const SONIC: &str = "amazon.nova-sonic-v1:0";
const AKID: &str = "BGAKSONICTESTKEY0001";
const SECRET: &str = "sonic-app/secret/0123456789abcdef0123456789abcdef";
const WAIT: Duration = Duration::from_secs(30);

type Sender = mpsc::Sender<Result<Input, InvokeModelWithBidirectionalStreamInputError>>;

/// A guard in front of the bidirectional double; `sigv4` adds a gateway key the client signs with
/// (frames verified), otherwise every caller is the fixed principal (frames re-signed only).
async fn setup(policy: &str, sigv4: bool) -> (BedrockDouble, BidiDouble, RunningGuard) {
    let double = BedrockDouble::start(REGION).await;
    let bidi = BidiDouble::start(REGION).await;
    let mut options = GuardOptions::policy(policy);
    options.endpoint = Some(bidi.url());
    if sigv4 {
        options.configure = Some(Arc::new(|config: &mut Config| {
            config.principals = vec![support::principal("sonic-app")];
            config.auth.allow_inline_secrets = true;
            config.auth.access_keys = vec![AccessKeyEntry {
                principal: "sonic-app".into(),
                access_key_id: AKID.into(),
                secret_file: None,
                secret_env: None,
                secret: Some(SECRET.into()),
            }];
        }));
    }
    let guard = start_guard(&double, options).await;
    (double, bidi, guard)
}

fn client(endpoint: &str, access_key: &str, secret: &str) -> Client {
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version_latest()
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
        .http_client(H2c::shared())
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

fn event(text: &str) -> Result<Input, InvokeModelWithBidirectionalStreamInputError> {
    Ok(Input::Chunk(
        BidirectionalInputPayloadPart::builder()
            .bytes(Blob::new(text.as_bytes()))
            .build(),
    ))
}

/// Opens a session; events are sent through the returned sender.
async fn open(
    client: &Client,
) -> Result<
    (
        Sender,
        aws_sdk_bedrockruntime::operation::invoke_model_with_bidirectional_stream::InvokeModelWithBidirectionalStreamOutput,
    ),
    aws_sdk_bedrockruntime::error::SdkError<
        aws_sdk_bedrockruntime::operation::invoke_model_with_bidirectional_stream::InvokeModelWithBidirectionalStreamError,
        aws_sdk_bedrockruntime::config::http::HttpResponse,
    >,
>{
    let (tx, rx) = mpsc::channel(1);
    // Bedrock answers once the first event is in; so does the double's stream.
    tx.send(event("hello")).await.unwrap();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let output = client
        .invoke_model_with_bidirectional_stream()
        .model_id(SONIC)
        .body(stream.into())
        .send()
        .await?;
    Ok((tx, output))
}

/// The JSON inside the next output chunk.
async fn next_chunk(
    output: &mut aws_sdk_bedrockruntime::operation::invoke_model_with_bidirectional_stream::InvokeModelWithBidirectionalStreamOutput,
) -> Option<Value> {
    let received = tokio::time::timeout(WAIT, output.body.recv())
        .await
        .expect("an output event in time")
        .unwrap();
    match received? {
        Output::Chunk(part) => {
            Some(serde_json::from_slice(part.bytes().unwrap().as_ref()).unwrap())
        }
        other => panic!("unexpected output {other:?}"),
    }
}

fn audit_events(logs: &ThreadLogs) -> Vec<Value> {
    logs.lines()
        .into_iter()
        .filter(|l| l["target"] == "bedrock_guard::audit")
        .map(|l| l["fields"].clone())
        .collect()
}

#[tokio::test]
async fn a_sigv4_session_is_verified_and_re_signed_frame_by_frame() {
    let logs = capture();
    let (_double, bidi, guard) = setup(FULL_ACCESS, true).await;
    let client = client(&guard.url(), AKID, SECRET);
    let (tx, mut output) = open(&client).await.expect("session opens");
    // One event in, its echo out, before the next is sent: nothing waits for the session to end.
    assert_eq!(
        next_chunk(&mut output).await.unwrap()["event"]["textOutput"]["content"],
        "echo: hello"
    );
    for text in ["how are you", "bye"] {
        tx.send(event(text)).await.unwrap();
        assert_eq!(
            next_chunk(&mut output).await.unwrap()["event"]["textOutput"]["content"],
            format!("echo: {text}")
        );
    }
    // Ending the input: the SDK's signed end frame becomes the proxy's; the double then reports usage.
    drop(tx);
    let usage = next_chunk(&mut output).await.unwrap();
    assert_eq!(usage["event"]["usageEvent"]["totalInputTokens"], 30);
    assert!(next_chunk(&mut output).await.is_none());

    let sessions = bidi.wait_for(|s| s.len() == 1 && s[0].ended).await;
    let session = &sessions[0];
    assert_eq!(
        session.path,
        "/model/amazon.nova-sonic-v1%3A0/invoke-with-bidirectional-stream"
    );
    assert_eq!(session.request_signature, Some(Ok(())));
    assert_eq!(
        session.frames,
        vec![
            Ok("hello".to_owned()),
            Ok("how are you".to_owned()),
            Ok("bye".to_owned())
        ]
    );

    let events = audit_events(&logs);
    let event = events
        .iter()
        .find(|e| e["operation"] == "InvokeModelWithBidirectionalStream")
        .unwrap_or_else(|| panic!("no audit event: {events:#?}"));
    assert_eq!(event["decision"], "allow", "{event}");
    assert_eq!(
        event["principal"],
        "arn:aws:iam::123456789012:role/sonic-app"
    );
    assert_eq!(event["status"], 200);
    assert_eq!(
        (
            event["input_tokens"].as_u64(),
            event["output_tokens"].as_u64()
        ),
        (Some(30), Some(8)),
        "{event}"
    );
}

#[tokio::test]
async fn a_wrong_key_or_a_denied_model_never_opens_upstream() {
    let deny_sonic = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"},
      {"Sid":"NoSpeech","Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/amazon.nova-sonic-*"}]}"#;
    let (_double, bidi, guard) = setup(deny_sonic, true).await;
    let err = open(&client(&guard.url(), AKID, SECRET))
        .await
        .expect_err("denied")
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    assert!(
        err.message().unwrap().contains("bedrock:InvokeModel")
            && err.message().unwrap().contains("NoSpeech"),
        "{err:?}"
    );
    let err = open(&client(&guard.url(), AKID, "not-the-secret"))
        .await
        .expect_err("bad signature")
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    assert!(bidi.sessions().is_empty());
}

#[tokio::test]
async fn a_mid_session_upstream_error_reaches_the_client_as_its_exception() {
    let (_double, bidi, guard) = setup(FULL_ACCESS, false).await;
    bidi.set_mode(BidiMode::FailAfterFirst);
    // Fixed principal: the client signs with any key; its frames are unwrapped and re-signed.
    let client = client(&guard.url(), "AKIDANYTHING", "anything");
    let (_tx, mut output) = open(&client).await.expect("session opens");
    assert_eq!(
        next_chunk(&mut output).await.unwrap()["event"]["textOutput"]["content"],
        "echo: hello"
    );
    let err = tokio::time::timeout(WAIT, output.body.recv())
        .await
        .unwrap()
        .expect_err("the upstream's exception frame")
        .into_service_error();
    assert!(err.is_model_stream_error_exception(), "{err:?}");
    let sessions = bidi.sessions();
    assert_eq!(sessions[0].frames, vec![Ok("hello".to_owned())]);
}

#[tokio::test]
async fn a_client_that_stops_sending_gets_bedrocks_timeout() {
    let (_double, bidi, guard) = setup(FULL_ACCESS, true).await;
    // Bedrock ends a session whose client stops sending; the guard relays that, adding nothing.
    bidi.set_mode(BidiMode::IdleTimeout(Duration::from_millis(300)));
    let client = client(&guard.url(), AKID, SECRET);
    let (_tx_kept_open, mut output) = open(&client).await.expect("session opens");
    assert!(next_chunk(&mut output).await.is_some());
    let err = tokio::time::timeout(WAIT, output.body.recv())
        .await
        .unwrap()
        .expect_err("Bedrock's timeout")
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert_eq!(err.message(), Some("Timed out waiting for input events"));
    let sessions = bidi.sessions();
    assert_eq!(sessions[0].frames, vec![Ok("hello".to_owned())]);
    assert!(!sessions[0].ended);
}

/// A bare HTTP/2 client (no SDK) that can drop its connection mid-session.
#[tokio::test]
async fn a_client_that_goes_away_mid_session_ends_the_upstream_session() {
    use http_body_util::{BodyExt, StreamBody};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let (_double, bidi, guard) = setup(FULL_ACCESS, false).await;
    let stream = tokio::net::TcpStream::connect(guard.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let (frames, rx) =
        mpsc::channel::<Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>>(1);
    let body = StreamBody::new(Box::pin(futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
    )));
    let request = http::Request::post(format!(
        "{}/model/amazon.nova-sonic-v1%3A0/invoke-with-bidirectional-stream",
        guard.url()
    ))
    .header("content-type", "application/vnd.amazon.eventstream")
    .body(body)
    .unwrap();
    // The fixed principal's frames need no signature: a bare event is an event.
    let payload = format!(
        r#"{{"bytes":"{}"}}"#,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "hello")
    );
    frames
        .send(Ok(http_body::Frame::data(support::encode_event(
            "chunk",
            payload.as_bytes(),
        ))))
        .await
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = tokio::time::timeout(WAIT, body.frame()).await.unwrap();
    assert!(first.is_some_and(|f| f.is_ok()));
    // Gone: the connection is dropped without an end frame.
    connection.abort();
    drop((body, sender, frames));
    let sessions = bidi.wait_for(|s| s.len() == 1 && s[0].body_closed).await;
    assert!(
        !sessions[0].ended,
        "no end frame was invented for a client that went away"
    );
    assert_eq!(sessions[0].frames, vec![Ok("hello".to_owned())]);
}

/// A SigV4 client whose second frame is not signed by its key: the guard ends the session, tells the
/// client why, and resets the upstream request without forwarding the frame.
#[tokio::test]
async fn a_frame_off_the_clients_chain_ends_the_session() {
    use aws_sigv4::event_stream::{sign_message, SigningParams};
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    use http_body_util::{BodyExt, StreamBody};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use std::time::SystemTime;

    let (_double, bidi, guard) = setup(FULL_ACCESS, true).await;
    let url = format!(
        "{}/model/amazon.nova-sonic-v1%3A0/invoke-with-bidirectional-stream",
        guard.url()
    );
    let now = SystemTime::now();
    let identity: Identity = Credentials::new(AKID, SECRET, None, None, "test").into();
    let signed = {
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("bedrock")
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let host = guard.addr.to_string();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/vnd.amazon.eventstream"),
        ];
        let signable =
            SignableRequest::new("POST", &url, headers.into_iter(), SignableBody::Bytes(&[]))
                .unwrap();
        sign(signable, &params).unwrap()
    };
    let (instructions, seed) = signed.into_parts();
    let mut request = http::Request::post(&url)
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(())
        .unwrap();
    instructions.apply_to_request_http1x(&mut request);

    let event = |text: &str| {
        let payload = format!(
            r#"{{"bytes":"{}"}}"#,
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, text)
        );
        Message::new(bytes::Bytes::from(payload))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ))
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String("chunk".into()),
            ))
    };
    let frame = |message: &Message, last: &str, secret: &str| {
        let identity: Identity = Credentials::new(AKID, secret, None, None, "test").into();
        let params: SigningParams<'_> = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("bedrock")
            .time(SystemTime::now())
            .settings(())
            .build()
            .unwrap();
        let (wrapper, signature) = sign_message(message, last, &params).unwrap().into_parts();
        let mut bytes = Vec::new();
        aws_smithy_eventstream::frame::write_message_to(&wrapper, &mut bytes).unwrap();
        (bytes::Bytes::from(bytes), signature)
    };

    let stream = tokio::net::TcpStream::connect(guard.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let (frames, rx) =
        mpsc::channel::<Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>>(1);
    let body = StreamBody::new(Box::pin(futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
    )));
    let (first, first_signature) = frame(&event("hello"), &seed, SECRET);
    frames
        .send(Ok(http_body::Frame::data(first)))
        .await
        .unwrap();
    let (parts, ()) = request.into_parts();
    let response = sender
        .send_request(http::Request::from_parts(parts, body))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let echo = tokio::time::timeout(WAIT, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(echo.is_data());
    // Next link of the chain, but signed with another secret.
    let (forged, _) = frame(&event("forged"), &first_signature, "not-the-secret");
    frames
        .send(Ok(http_body::Frame::data(forged)))
        .await
        .unwrap();
    let mut rest = Vec::new();
    while let Some(Ok(frame)) = tokio::time::timeout(WAIT, body.frame()).await.unwrap() {
        if let Ok(data) = frame.into_data() {
            rest.extend_from_slice(&data);
        }
    }
    let frames_out = support::eventstream::decode_frames(&rest);
    let last = frames_out.last().expect("an exception frame");
    assert_eq!(last.header(":message-type"), Some("exception"));
    assert_eq!(last.header(":exception-type"), Some("validationException"));
    let message = String::from_utf8_lossy(&last.payload).into_owned();
    assert!(
        message.contains("frame 2") && message.contains("signature"),
        "{message}"
    );

    let sessions = bidi.wait_for(|s| s.len() == 1 && s[0].body_closed).await;
    assert_eq!(
        sessions[0].frames,
        vec![Ok("hello".to_owned())],
        "the forged frame never reached Bedrock"
    );
    assert!(!sessions[0].ended);
}
