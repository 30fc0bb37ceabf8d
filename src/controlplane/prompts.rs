//! Prompt management (`bedrock-agent`): GetPrompt says which model each variant of a prompt version
//! runs. The SDK for that service is large and this is its only call, so the request is built and
//! SigV4-signed here with the guard's own signer (signing name `bedrock`, like the control plane).

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::fetch::FetchError;
use crate::classify::{partition_for_region, InferenceProfileTable};

/// Every byte but the unreserved ones is encoded in a path segment (an ARN's `:` and `/` included).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The default Prompt management endpoint of `region`.
pub fn default_endpoint(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("https://bedrock-agent.{region}.amazonaws.com.cn")
    } else {
        format!("https://bedrock-agent.{region}.amazonaws.com")
    }
}

/// GetPrompt for one region.
#[derive(Debug, Clone)]
pub struct PromptClient {
    http: reqwest::Client,
    credentials: Option<SharedCredentialsProvider>,
    /// Base URL, region substituted.
    endpoint: String,
    region: String,
}

impl PromptClient {
    pub fn new(
        credentials: Option<SharedCredentialsProvider>,
        region: &str,
        endpoint: Option<&str>,
        timeout: Duration,
    ) -> Self {
        let endpoint = match endpoint {
            Some(template) => template.replace(super::REGION_PLACEHOLDER, region),
            None => default_endpoint(region),
        };
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self {
            http,
            credentials,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: region.to_owned(),
        }
    }

    /// The model ARNs the variants of prompt `arn` (`...:prompt/{id}[:{version}]`) run. A variant
    /// without a model (an agent prompt) makes the prompt unresolvable: an error.
    pub async fn models(&self, arn: &str) -> Result<Vec<String>, FetchError> {
        let fail = |code: Option<String>, message: String| FetchError {
            operation: "GetPrompt",
            code,
            message,
        };
        let (head, resource) = arn
            .split_once(":prompt/")
            .ok_or_else(|| fail(None, format!("{arn} is not a prompt ARN")))?;
        let account = head.rsplit(':').next().unwrap_or("");
        let (id, version) = match resource.split_once(':') {
            Some((id, version)) => (id, Some(version)),
            None => (resource, None),
        };
        let mut url = format!(
            "{}/prompts/{}",
            self.endpoint,
            utf8_percent_encode(id, SEGMENT)
        );
        if let Some(version) = version {
            url.push_str(&format!(
                "?promptVersion={}",
                utf8_percent_encode(version, SEGMENT)
            ));
        }
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| fail(None, "no AWS credentials".to_owned()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| fail(None, e.to_string()))?;
        let signature = crate::aws::sign_request(
            "GET",
            &url,
            std::iter::empty(),
            b"",
            &credentials,
            &self.region,
            SystemTime::now(),
        )
        .map_err(|e| fail(None, e.to_string()))?;
        let mut request = self.http.get(&url);
        for (name, value) in signature {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| fail(None, e.to_string()))?;
        let status = response.status();
        let code = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_owned());
        let body = response
            .bytes()
            .await
            .map_err(|e| fail(None, e.to_string()))?;
        if !status.is_success() {
            return Err(fail(
                code,
                format!("{status}: {}", String::from_utf8_lossy(&body)),
            ));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| fail(None, e.to_string()))?;
        let variants = json["variants"]
            .as_array()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| fail(None, "the prompt has no variants".to_owned()))?;
        variants
            .iter()
            .map(|variant| {
                variant["modelId"]
                    .as_str()
                    .filter(|m| !m.is_empty())
                    .map(|model| model_arn(model, &self.region, account))
                    .ok_or_else(|| fail(None, "a prompt variant names no model".to_owned()))
            })
            .collect()
    }
}

/// A variant's `modelId` (a model id, an inference-profile id or an ARN) as an ARN.
fn model_arn(model: &str, region: &str, account: &str) -> String {
    if model.starts_with("arn:") {
        return model.to_owned();
    }
    let partition = partition_for_region(region);
    let is_profile = model.split_once('.').is_some_and(|(prefix, rest)| {
        rest.contains('.') && InferenceProfileTable::builtin().regions(prefix).is_some()
    });
    if is_profile {
        format!("arn:{partition}:bedrock:{region}:{account}:inference-profile/{model}")
    } else {
        format!("arn:{partition}:bedrock:{region}::foundation-model/{model}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_models_become_arns() {
        let cases = [
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            ),
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
            ),
            (
                "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0",
                "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0",
            ),
        ];
        for (model, arn) in cases {
            assert_eq!(
                model_arn(model, "us-east-1", "123456789012"),
                arn,
                "{model}"
            );
        }
    }
}
