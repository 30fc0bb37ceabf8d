//! Calls to the Bedrock control plane (`bedrock.{region}.amazonaws.com`) through `aws-sdk-bedrock`,
//! turned into [`super::catalog`] entries.

use std::time::SystemTime;

use aws_sdk_bedrock::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrock::primitives::{DateTime, DateTimeFormat};
use aws_sdk_bedrock::types::InferenceProfileType;
use aws_types::region::Region;
use aws_types::SdkConfig;

use super::catalog::{
    FoundationModel, InferenceProfile, ModelLifecycle, ModelRef, PromptRouter, ProvisionedModel,
    RegionCatalog,
};

/// A control-plane call that failed; the message names the operation and AWS's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct FetchError {
    pub operation: &'static str,
    /// AWS's error code (`AccessDeniedException`, `ResourceNotFoundException`), when it answered.
    pub code: Option<String>,
    pub message: String,
}

impl FetchError {
    fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .map(str::to_owned);
        Self {
            operation,
            code,
            message: DisplayErrorContext(&err).to_string(),
        }
    }

    /// The id does not exist (or is not visible to the proxy's credentials).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "ValidationException")
        )
    }
}

/// One region's control-plane client.
#[derive(Debug, Clone)]
pub struct RegionClient {
    client: aws_sdk_bedrock::Client,
}

impl RegionClient {
    /// `endpoint` may contain `{region}` (a VPC endpoint or a test double); `None`: the SDK's
    /// regional endpoint.
    pub fn new(sdk: &SdkConfig, region: &str, endpoint: Option<&str>) -> Self {
        let mut builder =
            aws_sdk_bedrock::config::Builder::from(sdk).region(Region::new(region.to_owned()));
        if let Some(endpoint) = endpoint {
            builder = builder.endpoint_url(endpoint.replace(super::REGION_PLACEHOLDER, region));
        }
        Self {
            client: aws_sdk_bedrock::Client::from_conf(builder.build()),
        }
    }

    /// Lists the region's inference profiles (system-defined and application) and foundation models.
    pub async fn list(&self) -> Result<RegionCatalog, FetchError> {
        let mut profiles = Vec::new();
        for kind in [
            InferenceProfileType::SystemDefined,
            InferenceProfileType::Application,
        ] {
            let mut pages = self
                .client
                .list_inference_profiles()
                .type_equals(kind)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| FetchError::from_sdk("ListInferenceProfiles", e))?;
                profiles.extend(page.inference_profile_summaries().iter().map(|p| {
                    InferenceProfile {
                        inference_profile_name: p.inference_profile_name.clone(),
                        description: p.description.clone(),
                        created_at: p.created_at.as_ref().and_then(rfc3339),
                        updated_at: p.updated_at.as_ref().and_then(rfc3339),
                        inference_profile_arn: p.inference_profile_arn.clone(),
                        models: p
                            .models
                            .iter()
                            .filter_map(|m| m.model_arn())
                            .map(model_ref)
                            .collect(),
                        inference_profile_id: p.inference_profile_id.clone(),
                        status: p.status.as_str().to_owned(),
                        kind: p.r#type.as_str().to_owned(),
                    }
                }));
            }
        }
        let models = self
            .client
            .list_foundation_models()
            .send()
            .await
            .map_err(|e| FetchError::from_sdk("ListFoundationModels", e))?;
        let foundation_models = models
            .model_summaries()
            .iter()
            .map(|m| FoundationModel {
                model_arn: m.model_arn().to_owned(),
                model_id: m.model_id().to_owned(),
                model_name: m.model_name().map(str::to_owned),
                provider_name: m.provider_name().map(str::to_owned),
                input_modalities: strings(m.input_modalities().iter().map(|x| x.as_str())),
                output_modalities: strings(m.output_modalities().iter().map(|x| x.as_str())),
                response_streaming_supported: m.response_streaming_supported(),
                customizations_supported: strings(
                    m.customizations_supported().iter().map(|x| x.as_str()),
                ),
                inference_types_supported: strings(
                    m.inference_types_supported().iter().map(|x| x.as_str()),
                ),
                model_lifecycle: m.model_lifecycle().map(|l| ModelLifecycle {
                    status: l.status().as_str().to_owned(),
                }),
            })
            .collect();
        Ok(RegionCatalog::live(
            profiles,
            foundation_models,
            SystemTime::now(),
        ))
    }

    pub async fn inference_profile(&self, id_or_arn: &str) -> Result<InferenceProfile, FetchError> {
        let p = self
            .client
            .get_inference_profile()
            .inference_profile_identifier(id_or_arn)
            .send()
            .await
            .map_err(|e| FetchError::from_sdk("GetInferenceProfile", e))?;
        Ok(InferenceProfile {
            inference_profile_name: p.inference_profile_name().to_owned(),
            description: p.description().map(str::to_owned),
            created_at: p.created_at().and_then(rfc3339),
            updated_at: p.updated_at().and_then(rfc3339),
            inference_profile_arn: p.inference_profile_arn().to_owned(),
            models: p
                .models()
                .iter()
                .filter_map(|m| m.model_arn())
                .map(model_ref)
                .collect(),
            inference_profile_id: p.inference_profile_id().to_owned(),
            status: p.status().as_str().to_owned(),
            kind: p.r#type().as_str().to_owned(),
        })
    }

    pub async fn prompt_router(&self, arn: &str) -> Result<PromptRouter, FetchError> {
        let r = self
            .client
            .get_prompt_router()
            .prompt_router_arn(arn)
            .send()
            .await
            .map_err(|e| FetchError::from_sdk("GetPromptRouter", e))?;
        Ok(PromptRouter {
            prompt_router_name: r.prompt_router_name().to_owned(),
            prompt_router_arn: r.prompt_router_arn().to_owned(),
            models: r
                .models()
                .iter()
                .filter_map(|m| m.model_arn())
                .map(model_ref)
                .collect(),
            fallback_model: r
                .fallback_model()
                .and_then(|m| m.model_arn())
                .map(model_ref),
            status: r.status().as_str().to_owned(),
            kind: r.r#type().as_str().to_owned(),
        })
    }

    pub async fn provisioned_model(&self, id_or_arn: &str) -> Result<ProvisionedModel, FetchError> {
        let p = self
            .client
            .get_provisioned_model_throughput()
            .provisioned_model_id(id_or_arn)
            .send()
            .await
            .map_err(|e| FetchError::from_sdk("GetProvisionedModelThroughput", e))?;
        Ok(ProvisionedModel {
            provisioned_model_arn: p.provisioned_model_arn().to_owned(),
            provisioned_model_name: p.provisioned_model_name().to_owned(),
            model_arn: p.model_arn().to_owned(),
            foundation_model_arn: p.foundation_model_arn().to_owned(),
            status: p.status().as_str().to_owned(),
        })
    }
}

fn model_ref(arn: &str) -> ModelRef {
    ModelRef {
        model_arn: arn.to_owned(),
    }
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    values.map(str::to_owned).collect()
}

fn rfc3339(time: &DateTime) -> Option<String> {
    time.fmt(DateTimeFormat::DateTime).ok()
}
