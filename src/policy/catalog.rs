//! A catalog of current Amazon Bedrock foundation model ids, for lints: a policy pattern that matches
//! none of them is most likely a typo (`anthropic.claude-sonet-*`) that silently allows or denies
//! nothing. The catalog only feeds warnings, never decisions; `[catalog] models` in the config adds ids
//! released after this list was written.

use super::glob::{glob_match, Case};

/// Foundation model ids as they appear in `foundation-model/{id}` ARNs (Bedrock model catalog, 2025).
pub const BUILTIN_MODELS: &[&str] = &[
    "ai21.jamba-1-5-large-v1:0",
    "ai21.jamba-1-5-mini-v1:0",
    "amazon.nova-canvas-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-micro-v1:0",
    "amazon.nova-premier-v1:0",
    "amazon.nova-pro-v1:0",
    "amazon.nova-reel-v1:0",
    "amazon.nova-reel-v1:1",
    "amazon.nova-sonic-v1:0",
    "amazon.rerank-v1:0",
    "amazon.titan-embed-image-v1",
    "amazon.titan-embed-text-v1",
    "amazon.titan-embed-text-v2:0",
    "amazon.titan-image-generator-v2:0",
    "amazon.titan-text-express-v1",
    "amazon.titan-text-lite-v1",
    "amazon.titan-text-premier-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-opus-20240229-v1:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-opus-4-1-20250805-v1:0",
    "anthropic.claude-opus-4-20250514-v1:0",
    "anthropic.claude-opus-4-5-20251101-v1:0",
    "anthropic.claude-sonnet-4-20250514-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "cohere.command-r-plus-v1:0",
    "cohere.command-r-v1:0",
    "cohere.embed-english-v3",
    "cohere.embed-multilingual-v3",
    "cohere.rerank-v3-5:0",
    "deepseek.r1-v1:0",
    "deepseek.v3-v1:0",
    "luma.ray-v2:0",
    "meta.llama3-1-405b-instruct-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "meta.llama3-1-8b-instruct-v1:0",
    "meta.llama3-2-11b-instruct-v1:0",
    "meta.llama3-2-1b-instruct-v1:0",
    "meta.llama3-2-3b-instruct-v1:0",
    "meta.llama3-2-90b-instruct-v1:0",
    "meta.llama3-3-70b-instruct-v1:0",
    "meta.llama3-70b-instruct-v1:0",
    "meta.llama3-8b-instruct-v1:0",
    "meta.llama4-maverick-17b-instruct-v1:0",
    "meta.llama4-scout-17b-instruct-v1:0",
    "mistral.mistral-7b-instruct-v0:2",
    "mistral.mistral-large-2402-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "mistral.mistral-small-2402-v1:0",
    "mistral.mixtral-8x7b-instruct-v0:1",
    "mistral.pixtral-large-2502-v1:0",
    "openai.gpt-oss-120b-1:0",
    "openai.gpt-oss-20b-1:0",
    "qwen.qwen3-235b-a22b-2507-v1:0",
    "qwen.qwen3-32b-v1:0",
    "qwen.qwen3-coder-30b-a3b-v1:0",
    "qwen.qwen3-coder-480b-a35b-v1:0",
    "stability.sd3-5-large-v1:0",
    "stability.stable-image-core-v1:1",
    "stability.stable-image-ultra-v1:1",
    "twelvelabs.marengo-embed-2-7-v1:0",
    "twelvelabs.pegasus-1-2-v1:0",
    "writer.palmyra-x4-v1:0",
    "writer.palmyra-x5-v1:0",
];

/// Cross-region inference profile prefixes (`us.`, `global.`, ...), for profile-id patterns.
pub const PROFILE_PREFIXES: &[&str] = &["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"];

/// The built-in ids plus the config's.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    extra: Vec<String>,
}

impl Catalog {
    pub fn new(extra: &[String]) -> Self {
        Self {
            extra: extra.to_vec(),
        }
    }

    pub fn models(&self) -> impl Iterator<Item = &str> {
        BUILTIN_MODELS
            .iter()
            .copied()
            .chain(self.extra.iter().map(String::as_str))
    }

    /// Whether `pattern` (a glob over a model id) matches some known model.
    pub fn matches_model(&self, pattern: &str) -> bool {
        self.models()
            .any(|m| glob_match(pattern, m, Case::Sensitive))
    }

    /// Whether `pattern` (a glob over an inference profile id such as `us.anthropic.*`) matches some
    /// known model behind some known prefix.
    pub fn matches_profile(&self, pattern: &str) -> bool {
        self.models().any(|m| {
            PROFILE_PREFIXES
                .iter()
                .any(|p| glob_match(pattern, &format!("{p}.{m}"), Case::Sensitive))
        })
    }
}
