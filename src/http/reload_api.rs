//! Admin endpoints for hot reload: `POST /admin/reload` and `GET /admin/status`. Served on the admin
//! listener only, never on the proxy port.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;

use crate::config::{ReloadOutcome, ReloadTrigger, Reloader};

pub fn reload_routes(reloader: Arc<Reloader>) -> Router {
    Router::new()
        .route("/admin/reload", post(reload))
        .route("/admin/status", get(status))
        .with_state(reloader)
}

/// Reloads now and says what happened; a refused candidate is a 422 carrying the error.
async fn reload(State(reloader): State<Arc<Reloader>>) -> Response {
    match reloader.reload(ReloadTrigger::Admin).await {
        ReloadOutcome::Published { version } => Json(serde_json::json!({
            "result": "published", "version": version
        }))
        .into_response(),
        ReloadOutcome::Unchanged { version } => Json(serde_json::json!({
            "result": "unchanged", "version": version
        }))
        .into_response(),
        ReloadOutcome::Failed { version, error } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({
                "result": "failed", "version": version, "error": error
            })),
        )
            .into_response(),
    }
}

async fn status(State(reloader): State<Arc<Reloader>>) -> Json<crate::config::ReloadStatus> {
    Json(reloader.status())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Overrides, Snapshot};
    use arc_swap::ArcSwap;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn send(router: &Router, method: &str, path: &str) -> (StatusCode, serde_json::Value) {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn reload_and_status_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("p.json");
        std::fs::write(&policy, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#).unwrap();
        let path = dir.path().join("guard.toml");
        std::fs::write(&path, "[policy]\nfiles = [\"p.json\"]\n").unwrap();
        let config = load(Some(&path), &Overrides::default()).unwrap();
        let live = Arc::new(ArcSwap::from_pointee(
            Snapshot::compile(&config, 1).unwrap(),
        ));
        let reloader = Arc::new(Reloader::new(
            live,
            Some(path),
            Overrides::default(),
            config,
        ));
        let router = reload_routes(reloader);

        let (status, body) = send(&router, "POST", "/admin/reload").await;
        assert_eq!(
            (status, body["result"].as_str()),
            (StatusCode::OK, Some("unchanged"))
        );

        std::fs::write(&policy, "not json").unwrap();
        let (status, body) = send(&router, "POST", "/admin/reload").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["error"].as_str().unwrap().contains("p.json"), "{body}");

        let (status, body) = send(&router, "GET", "/admin/status").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["last_result"], "failed");
        assert_eq!(body["failed_total"], 1);
        assert_eq!(body["generation"], 1);
        assert_eq!(body["last_trigger"], "admin");
    }
}
