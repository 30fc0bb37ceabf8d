//! Every operation the guard classifies, in one table: the README's "Operations" table is rendered
//! from it ([`render_markdown_table`]) and a test keeps the two equal. Another test reads the
//! bedrock-runtime service model vendored under `tests/fixtures/bedrock-runtime/` and fails when the
//! model has an operation this table lacks, or a different method or path.

use super::Operation;

/// One row of the operation table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationRow {
    pub operation: Operation,
    /// HTTP method and path template (the service model's `requestUri` for its operations).
    pub method: &'static str,
    pub path: &'static str,
    /// Other paths serving the same operation.
    pub also: &'static str,
    /// The resources the call is authorized against.
    pub resources: &'static str,
    /// Where the model id comes from.
    pub model: &'static str,
    /// What streams, if anything.
    pub streaming: &'static str,
    /// True when the operation is in the bedrock-runtime service model (the OpenAI-compatible routes
    /// are not).
    pub in_service_model: bool,
}

const MODEL_ARNS: &str = "the model's ARNs ([Policies](#policies))";

const fn row(
    operation: Operation,
    method: &'static str,
    path: &'static str,
    resources: &'static str,
    model: &'static str,
    streaming: &'static str,
) -> OperationRow {
    OperationRow {
        operation,
        method,
        path,
        also: "",
        resources,
        model,
        streaming,
        in_service_model: true,
    }
}

const fn openai(row: OperationRow) -> OperationRow {
    OperationRow {
        in_service_model: false,
        ..row
    }
}

/// The table. The IAM action of each row is [`Operation::iam_action`].
pub const OPERATION_TABLE: &[OperationRow] = &[
    row(
        Operation::InvokeModel,
        "POST",
        "/model/{modelId}/invoke",
        MODEL_ARNS,
        "path",
        "no",
    ),
    row(
        Operation::InvokeModelWithResponseStream,
        "POST",
        "/model/{modelId}/invoke-with-response-stream",
        MODEL_ARNS,
        "path",
        "response event stream",
    ),
    row(
        Operation::Converse,
        "POST",
        "/model/{modelId}/converse",
        MODEL_ARNS,
        "path",
        "no",
    ),
    row(
        Operation::ConverseStream,
        "POST",
        "/model/{modelId}/converse-stream",
        MODEL_ARNS,
        "path",
        "response event stream",
    ),
    row(
        Operation::CountTokens,
        "POST",
        "/model/{modelId}/count-tokens",
        MODEL_ARNS,
        "path",
        "no",
    ),
    row(
        Operation::ApplyGuardrail,
        "POST",
        "/guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply",
        "the guardrail ARN",
        "-",
        "no",
    ),
    row(
        Operation::StartAsyncInvoke,
        "POST",
        "/async-invoke",
        MODEL_ARNS,
        "body `modelId`",
        "no",
    ),
    row(
        Operation::GetAsyncInvoke,
        "GET",
        "/async-invoke/{invocationArn}",
        "the invocation ARN",
        "-",
        "no",
    ),
    row(
        Operation::ListAsyncInvokes,
        "GET",
        "/async-invoke",
        "`*`",
        "-",
        "no",
    ),
    row(
        Operation::InvokeGuardrailChecks,
        "POST",
        "/guardrail-checks/invoke",
        "`*`",
        "-",
        "no",
    ),
    row(
        Operation::InvokeModelWithBidirectionalStream,
        "POST",
        "/model/{modelId}/invoke-with-bidirectional-stream",
        MODEL_ARNS,
        "path",
        "both ways (HTTP/2): each inbound frame verified and re-signed",
    ),
    openai(OperationRow {
        also: "`/v1/chat/completions`",
        ..row(
            Operation::ChatCompletions,
            "POST",
            "/openai/v1/chat/completions",
            MODEL_ARNS,
            "body `model`",
            "no",
        )
    }),
    openai(OperationRow {
        also: "`/v1/chat/completions`",
        ..row(
            Operation::ChatCompletionsStream,
            "POST",
            "/openai/v1/chat/completions",
            MODEL_ARNS,
            "body `model`, with `\"stream\": true`",
            "server-sent events",
        )
    }),
    openai(row(
        Operation::CreateResponse,
        "POST",
        "/openai/v1/responses",
        MODEL_ARNS,
        "body `model`",
        "no",
    )),
    openai(row(
        Operation::CreateResponseStream,
        "POST",
        "/openai/v1/responses",
        MODEL_ARNS,
        "body `model`, with `\"stream\": true`",
        "server-sent events",
    )),
    openai(row(
        Operation::GetResponse,
        "GET",
        "/openai/v1/responses/{id}",
        "`*`",
        "-",
        "no",
    )),
    openai(row(
        Operation::DeleteResponse,
        "DELETE",
        "/openai/v1/responses/{id}",
        "`*`",
        "-",
        "no",
    )),
    openai(row(
        Operation::CancelResponse,
        "POST",
        "/openai/v1/responses/{id}/cancel",
        "`*`",
        "-",
        "no",
    )),
];

/// The table as Markdown, exactly as the README shows it.
pub fn render_markdown_table() -> String {
    let mut out = String::from(
        "| operation | request | IAM action | resources checked | model id from | streaming |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in OPERATION_TABLE {
        let mut request = format!("`{} {}`", r.method, r.path);
        if !r.also.is_empty() {
            request.push_str(" (also ");
            request.push_str(r.also);
            request.push(')');
        }
        let name = if r.in_service_model {
            r.operation.name().to_owned()
        } else {
            format!("{} (OpenAI-compatible)", r.operation.name())
        };
        out.push_str(&format!(
            "| {name} | {request} | `{}` | {} | {} | {} |\n",
            r.operation.iam_action(),
            r.resources,
            r.model,
            r.streaming
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{classify, ClassifyError};
    use http::Method;

    const SERVICE_MODEL: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bedrock-runtime/service-2.json"
    ));
    const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));

    fn service_operations() -> Vec<(String, String, String)> {
        let model: serde_json::Value = match serde_json::from_str(SERVICE_MODEL) {
            Ok(v) => v,
            Err(e) => panic!("service model: {e}"),
        };
        assert_eq!(model["metadata"]["signingName"], "bedrock");
        assert_eq!(model["metadata"]["apiVersion"], "2023-09-30");
        let Some(operations) = model["operations"].as_object() else {
            panic!("service model has no operations");
        };
        operations
            .iter()
            .map(|(name, op)| {
                let method = op["http"]["method"].as_str().unwrap_or("").to_owned();
                let uri = op["http"]["requestUri"].as_str().unwrap_or("").to_owned();
                (name.clone(), method, uri)
            })
            .collect()
    }

    /// A concrete request path for a template, with plausible values for its labels.
    fn sample_path(template: &str) -> String {
        template
            .replace("{modelId}", "anthropic.claude-3-haiku-20240307-v1%3A0")
            .replace("{guardrailIdentifier}", "abc123")
            .replace("{guardrailVersion}", "1")
            .replace(
                "{invocationArn}",
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2Fabc123",
            )
            .replace("{id}", "resp_0123abc")
    }

    #[test]
    fn every_service_model_operation_is_classified() {
        let operations = service_operations();
        assert!(operations.len() >= 11, "{operations:?}");
        for (name, method, uri) in &operations {
            let Some(row) = OPERATION_TABLE
                .iter()
                .find(|r| r.in_service_model && r.operation.name() == name)
            else {
                panic!("the service model has {name} ({method} {uri}), which the guard does not classify");
            };
            assert_eq!(
                (row.method, row.path),
                (method.as_str(), uri.as_str()),
                "{name}"
            );
            let Ok(method) = Method::from_bytes(method.as_bytes()) else {
                panic!("{name}: method {method}");
            };
            match classify(&method, &sample_path(uri), None) {
                Ok(route) => assert_eq!(route.operation.name(), name, "{uri}"),
                // Classified, and refused on purpose.
                Err(ClassifyError::Unsupported { operation, .. }) => assert_eq!(operation, name),
                Err(e) => panic!("{name}: {method} {uri}: {e}"),
            }
        }
        for row in OPERATION_TABLE.iter().filter(|r| r.in_service_model) {
            assert!(
                operations.iter().any(|(n, _, _)| n == row.operation.name()),
                "{} is not in the service model",
                row.operation.name()
            );
        }
    }

    #[test]
    fn every_operation_has_one_row_and_its_route_classifies() {
        for op in Operation::all() {
            let rows: Vec<_> = OPERATION_TABLE
                .iter()
                .filter(|r| r.operation == *op)
                .collect();
            assert_eq!(rows.len(), 1, "{op}");
            let row = rows[0];
            let Ok(method) = Method::from_bytes(row.method.as_bytes()) else {
                panic!("{op}");
            };
            let path = sample_path(row.path);
            match classify(&method, &path, None) {
                // The streaming forms are told apart by the body.
                Ok(route) => assert!(
                    route.operation == *op
                        || matches!(
                            (route.operation, op),
                            (Operation::ChatCompletions, Operation::ChatCompletionsStream)
                                | (Operation::CreateResponse, Operation::CreateResponseStream)
                        ),
                    "{op}: {path} classified as {}",
                    route.operation
                ),
                Err(ClassifyError::Unsupported { operation, .. }) => {
                    assert_eq!(operation, op.name())
                }
                Err(e) => panic!("{op}: {path}: {e}"),
            }
            assert_eq!(op.is_openai(), !row.in_service_model, "{op}");
        }
    }

    #[test]
    fn readme_shows_the_table() {
        let start = "<!-- operation-table:start (generated from src/classify/table.rs) -->\n";
        let end = "<!-- operation-table:end -->";
        let Some(from) = README.find(start) else {
            panic!("README.md lacks the operation table marker");
        };
        let rest = &README[from + start.len()..];
        let Some(to) = rest.find(end) else {
            panic!("README.md lacks the end marker");
        };
        let shown = &rest[..to];
        let want = render_markdown_table();
        assert!(
            shown == want,
            "README.md's operation table is stale; replace it with:\n{want}"
        );
    }
}
