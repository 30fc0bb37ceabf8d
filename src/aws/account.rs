//! The AWS account of the proxy's credentials, needed to build inference-profile and guardrail ARNs.
//! Configured, or looked up once with STS GetCallerIdentity.

use tokio::sync::OnceCell;

#[derive(Debug)]
pub struct AccountResolver {
    known: OnceCell<String>,
    sts: Option<aws_sdk_sts::Client>,
}

impl AccountResolver {
    /// An account id given in the configuration; STS is never called.
    pub fn fixed(account_id: String) -> Self {
        Self {
            known: OnceCell::new_with(Some(account_id)),
            sts: None,
        }
    }

    /// Looks the account up with STS on first need (retried on the next need if it fails).
    pub fn from_sts(sts: aws_sdk_sts::Client) -> Self {
        Self {
            known: OnceCell::new(),
            sts: Some(sts),
        }
    }

    /// The account id if it is already known, without any I/O.
    pub fn cached(&self) -> Option<&str> {
        self.known.get().map(String::as_str)
    }

    /// The account id, calling STS if it is not known yet.
    pub async fn resolve(&self) -> Result<&str, String> {
        let sts = self.sts.as_ref();
        self.known
            .get_or_try_init(|| async move {
                let Some(sts) = sts else {
                    return Err("no account_id configured and no STS client".to_owned());
                };
                let out = sts.get_caller_identity().send().await.map_err(|e| {
                    format!(
                        "STS GetCallerIdentity failed: {}",
                        aws_sdk_sts::error::DisplayErrorContext(e)
                    )
                })?;
                out.account
                    .ok_or_else(|| "STS GetCallerIdentity returned no account".to_owned())
            })
            .await
            .map(String::as_str)
    }
}
