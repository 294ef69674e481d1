//! A Rekor v1 search endpoint on 127.0.0.1 serving real log entries, for the
//! detached `.sig`/`.crt` path. It matches the proposed entry against its
//! stored bodies, as Rekor's `/api/v1/log/entries/retrieve` does, and can be
//! told to fail.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

#[derive(Default)]
pub struct Behaviour {
    /// Answer this many requests with 503 before answering normally.
    pub fail_first: usize,
    /// Answer every request with this status.
    pub always_status: Option<u16>,
}

#[derive(Clone)]
struct Shared {
    entries: Arc<Mutex<Vec<Value>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    requests: Arc<AtomicUsize>,
}

pub struct MockRekor {
    pub url: String,
    shared: Shared,
    _runtime: tokio::runtime::Runtime,
}

impl MockRekor {
    /// Start a server holding `entries` (Rekor v1 `{uuid: entry}` objects).
    pub fn start(entries: Vec<Value>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Shared {
            entries: Arc::new(Mutex::new(entries)),
            behaviour: Arc::new(Mutex::new(Behaviour::default())),
            requests: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route("/api/v1/log/entries/retrieve", post(retrieve))
            .with_state(shared.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        MockRekor {
            url: format!("http://{addr}"),
            shared,
            _runtime: runtime,
        }
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

async fn retrieve(State(shared): State<Shared>, Json(query): Json<Value>) -> Response {
    let n = shared.requests.fetch_add(1, Ordering::SeqCst);
    {
        let behaviour = shared.behaviour.lock().unwrap();
        if let Some(status) = behaviour.always_status {
            return (
                StatusCode::from_u16(status).unwrap(),
                "{\"code\":500,\"message\":\"injected\"}",
            )
                .into_response();
        }
        if n < behaviour.fail_first {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"message\":\"injected\"}",
            )
                .into_response();
        }
    }
    let Some(proposed) = query["entries"].as_array() else {
        return (
            StatusCode::BAD_REQUEST,
            "{\"message\":\"entries required\"}",
        )
            .into_response();
    };
    let entries = shared.entries.lock().unwrap();
    let found: Vec<Value> = entries
        .iter()
        .filter(|stored| {
            let (_, entry) = stored.as_object().unwrap().iter().next().unwrap();
            let body = STANDARD.decode(entry["body"].as_str().unwrap()).unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap();
            proposed.iter().any(|p| same_entry(p, &body))
        })
        .cloned()
        .collect();
    Json(Value::Array(found)).into_response()
}

/// Rekor canonicalises before matching; comparing parsed JSON (and the
/// certificate PEM by its decoded bytes) is the same test.
fn same_entry(proposed: &Value, stored: &Value) -> bool {
    let pem_der = |v: &Value| {
        let pem_b64 = v["spec"]["signature"]["publicKey"]["content"]
            .as_str()
            .unwrap_or_default();
        let pem_text = STANDARD.decode(pem_b64).unwrap_or_default();
        let body: String = String::from_utf8_lossy(&pem_text)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        STANDARD.decode(body).unwrap_or_default()
    };
    proposed["kind"] == stored["kind"]
        && proposed["apiVersion"] == stored["apiVersion"]
        && proposed["spec"]["data"] == stored["spec"]["data"]
        && proposed["spec"]["signature"]["content"] == stored["spec"]["signature"]["content"]
        && pem_der(proposed) == pem_der(stored)
}
