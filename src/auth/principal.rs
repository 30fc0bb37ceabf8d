//! A resolved caller identity and the condition keys it contributes.

use crate::policy::RequestContext;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub arn: String,
    pub account: String,
    pub groups: Vec<String>,
    pub tags: Vec<(String, String)>,
    /// Call Bedrock as this role instead of with the proxy's own credentials.
    pub assume_role_arn: Option<String>,
}

impl Principal {
    /// The request-wide condition keys that describe this caller.
    pub fn fill_context(&self, context: &mut RequestContext) {
        context.set("aws:PrincipalArn", self.arn.as_str());
        context.set("aws:PrincipalAccount", self.account.as_str());
        context.set("aws:username", self.name.as_str());
        context.set("aws:PrincipalType", "AssumedRole");
        for (key, value) in &self.tags {
            context.set(&format!("aws:PrincipalTag/{key}"), value.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_become_condition_keys() {
        let principal = Principal {
            name: "chat".into(),
            arn: "arn:aws:iam::123456789012:role/chat".into(),
            account: "123456789012".into(),
            groups: vec![],
            tags: vec![("team".into(), "search".into())],
            assume_role_arn: None,
        };
        let mut context = RequestContext::new();
        principal.fill_context(&mut context);
        assert_eq!(
            context.get("aws:principalarn"),
            Some(&["arn:aws:iam::123456789012:role/chat".to_owned()][..])
        );
        assert_eq!(
            context.get("aws:PrincipalAccount").unwrap()[0],
            "123456789012"
        );
        assert_eq!(context.get("aws:PrincipalTag/team").unwrap()[0], "search");
        assert_eq!(context.get("aws:username").unwrap()[0], "chat");
    }
}
