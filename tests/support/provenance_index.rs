//! A simple index on 127.0.0.1 with PyPI's Integrity API: PEP 503 HTML pages
//! with sha256 fragments, the files, and
//! `/integrity/<project>/<version>/<file>/provenance` (404 when a file has
//! none), as warehouse serves them. Tests set what it serves, including
//! wrong files and provenance from elsewhere.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

#[derive(Default)]
struct Content {
    /// file name -> bytes
    files: BTreeMap<String, Vec<u8>>,
    /// file name -> provenance JSON
    provenance: BTreeMap<String, Value>,
}

pub struct ProvenanceIndex {
    /// Base URL; the simple index is at `{url}/simple/`.
    pub url: String,
    content: Arc<Mutex<Content>>,
    _runtime: tokio::runtime::Runtime,
}

impl ProvenanceIndex {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let content = Arc::new(Mutex::new(Content::default()));
        let app = Router::new()
            .route("/simple/{project}/", get(page))
            .route("/files/{name}", get(file))
            .route(
                "/integrity/{project}/{version}/{name}/provenance",
                get(provenance),
            )
            .with_state(content.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        ProvenanceIndex {
            url: format!("http://{addr}"),
            content,
            _runtime: runtime,
        }
    }

    pub fn set_file(&self, name: &str, bytes: Vec<u8>) {
        self.content
            .lock()
            .unwrap()
            .files
            .insert(name.into(), bytes);
    }

    pub fn set_provenance(&self, name: &str, provenance: Option<Value>) {
        let mut c = self.content.lock().unwrap();
        match provenance {
            Some(p) => c.provenance.insert(name.into(), p),
            None => c.provenance.remove(name),
        };
    }
}

async fn page(
    State(c): State<Arc<Mutex<Content>>>,
    UrlPath(_project): UrlPath<String>,
) -> Response {
    use sha2::Digest;
    let c = c.lock().unwrap();
    let links: String = c
        .files
        .iter()
        .map(|(name, bytes)| {
            let digest = hex::encode(sha2::Sha256::digest(bytes));
            format!("<a href=\"/files/{name}#sha256={digest}\">{name}</a>\n")
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "text/html")],
        format!("<!DOCTYPE html><html><body>\n{links}</body></html>\n"),
    )
        .into_response()
}

async fn file(State(c): State<Arc<Mutex<Content>>>, UrlPath(name): UrlPath<String>) -> Response {
    match c.lock().unwrap().files.get(&name) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn provenance(
    State(c): State<Arc<Mutex<Content>>>,
    UrlPath((_project, _version, name)): UrlPath<(String, String, String)>,
) -> Response {
    match c.lock().unwrap().provenance.get(&name) {
        Some(p) => (
            [(
                header::CONTENT_TYPE,
                "application/vnd.pypi.integrity.v1+json",
            )],
            p.to_string(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("{{\"message\":\"No provenance available for {name}\"}}"),
        )
            .into_response(),
    }
}
