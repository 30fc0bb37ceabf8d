//! Per-principal upstream identity: call Bedrock as a role assumed for the principal, with the
//! principal's name as STS session name and source identity, so CloudTrail shows which app made each
//! call. Each (principal, role) gets its own cached, refreshed session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::provider::error::CredentialsError as ProviderError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

use super::CredentialCache;

/// STS AssumeRole for one principal.
#[derive(Debug)]
struct AssumeRoleForPrincipal {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    principal: String,
}

impl AssumeRoleForPrincipal {
    async fn assume(&self) -> Result<Credentials, ProviderError> {
        let name = session_name(&self.principal);
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&name)
            .source_identity(&name)
            .duration_seconds(3600)
            .send()
            .await
            .map_err(|e| {
                ProviderError::provider_error(format!(
                    "STS AssumeRole {} for {}: {}",
                    self.role_arn,
                    self.principal,
                    aws_sdk_sts::error::DisplayErrorContext(e)
                ))
            })?;
        let creds = out.credentials.ok_or_else(|| {
            ProviderError::provider_error("STS AssumeRole returned no credentials")
        })?;
        let expiry = UNIX_EPOCH + Duration::from_secs(creds.expiration.secs().max(0) as u64);
        Ok(Credentials::new(
            creds.access_key_id,
            creds.secret_access_key,
            Some(creds.session_token),
            Some(expiry),
            "bedrock-guard-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumeRoleForPrincipal {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

/// STS session names and source identities allow `[\w+=,.@-]{2,64}`.
fn session_name(principal: &str) -> String {
    let mut name: String = principal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

/// The role sessions of all principals that have one.
#[derive(Debug)]
pub struct RoleSessions {
    sts: aws_sdk_sts::Client,
    sessions: Mutex<HashMap<(String, String), Arc<CredentialCache>>>,
}

impl RoleSessions {
    pub fn new(sts: aws_sdk_sts::Client) -> Self {
        Self {
            sts,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The (cached) credential source for `principal` acting as `role_arn`.
    pub fn session(&self, principal: &str, role_arn: &str) -> Arc<CredentialCache> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions
            .entry((principal.to_owned(), role_arn.to_owned()))
            .or_insert_with(|| {
                let provider = AssumeRoleForPrincipal {
                    sts: self.sts.clone(),
                    role_arn: role_arn.to_owned(),
                    principal: principal.to_owned(),
                };
                Arc::new(CredentialCache::new(Some(SharedCredentialsProvider::new(
                    provider,
                ))))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_sts_rules() {
        assert_eq!(session_name("chat-app"), "chat-app");
        assert_eq!(session_name("team/app name"), "team-app-name");
        assert_eq!(session_name("a"), "a-");
        assert_eq!(session_name(&"x".repeat(80)).len(), 64);
    }
}
