//! A minimal STS double on port 0: answers GetCallerIdentity and AssumeRole with fixed values and
//! records the form bodies it received.

use std::sync::{Arc, Mutex};

use axum::routing::post;

pub const ROLE_ACCESS_KEY: &str = "ASIAROLEEXAMPLE";
pub const ROLE_SECRET_KEY: &str = "role/secret/KEY";
pub const ROLE_SESSION_TOKEN: &str = "role-session-token";
pub const CALLER_ACCOUNT: &str = "210987654321";

pub struct StsDouble {
    pub url: String,
    calls: Arc<Mutex<Vec<String>>>,
}

impl StsDouble {
    pub async fn start() -> StsDouble {
        let calls: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = calls.clone();
        let app = axum::Router::new().route(
            "/",
            post(move |body: String| {
                let record = record.clone();
                async move {
                    let answer = if body.contains("Action=GetCallerIdentity") {
                        get_caller_identity()
                    } else {
                        assume_role()
                    };
                    record.lock().unwrap().push(body);
                    ([("content-type", "text/xml")], answer)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        StsDouble { url, calls }
    }

    /// The form bodies received, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

fn get_caller_identity() -> String {
    format!(
        r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::{CALLER_ACCOUNT}:role/bedrock-guard</Arn>
    <UserId>AROAEXAMPLE:bedrock-guard</UserId>
    <Account>{CALLER_ACCOUNT}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>sts-double</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#
    )
}

fn assume_role() -> String {
    format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/role/session</Arn><AssumedRoleId>AROAEXAMPLE:session</AssumedRoleId></AssumedRoleUser>
    <Credentials><AccessKeyId>{ROLE_ACCESS_KEY}</AccessKeyId><SecretAccessKey>{ROLE_SECRET_KEY}</SecretAccessKey><SessionToken>{ROLE_SESSION_TOKEN}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>sts-double</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#
    )
}
