//! PEP 503 (HTML) and PEP 691 (JSON) simple indexes.
//!
//! GitLab serves HTML (`<a href=".../files/<sha256>/<name>#sha256=<sha256>"
//! data-requires-python="…">name</a>`); PEP 691 JSON is behind a feature flag,
//! so both are read, whichever the server answers with.

use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::auth::Credential;
use super::TransferError;
use crate::http::redact_url;

/// What a project's simple page said.
#[derive(Debug)]
pub enum Page {
    Files(Vec<IndexFile>),
    /// A redirect: GitLab forwards packages it does not hold to pypi.org,
    /// so this index does not have the package.
    Redirected,
    NotFound,
}

/// GET one simple page (with PyPI-route credentials), without following
/// redirects, and parse it in whichever format the server chose.
pub async fn fetch_page(
    client: &reqwest::Client,
    page: &Url,
    credential: &Credential,
) -> Result<Page, TransferError> {
    let shown = redact_url(page.as_str());
    let request = credential.apply_pypi(client.get(page.clone()).header("Accept", ACCEPT));
    let response = request
        .send()
        .await
        .map_err(|source| TransferError::Request {
            url: shown.clone(),
            source,
        })?;
    let status = response.status();
    if status.is_redirection() {
        return Ok(Page::Redirected);
    }
    if status == StatusCode::NOT_FOUND {
        return Ok(Page::NotFound);
    }
    TransferError::check_auth(status, &shown, credential)?;
    if !status.is_success() {
        return Err(TransferError::Refused {
            url: shown,
            status: status.as_u16(),
            message: String::new(),
        });
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/html")
        .to_string();
    let body = response
        .bytes()
        .await
        .map_err(|source| TransferError::Request {
            url: shown.clone(),
            source,
        })?;
    parse_page(page, &content_type, &body)
        .map(Page::Files)
        .map_err(|detail| TransferError::BadResponse {
            url: shown,
            detail: format!("not a simple index page: {detail}"),
        })
}

/// One installable file listed by an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub filename: String,
    /// Absolute download URL, without the fragment.
    pub url: Url,
    /// Lowercase hex sha256, when the index gives one.
    pub sha256: Option<String>,
    pub requires_python: Option<String>,
    /// The PEP 740 provenance link (`data-provenance`, PEP 691 `provenance`),
    /// when the index gives one.
    pub provenance: Option<ProvenanceLink>,
}

/// A provenance link as the index wrote it, resolved against the page URL
/// like `href`. Whether it may be fetched is decided where it is used
/// (`provenance::link_url`), so that an unusable link is reported, never
/// skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceLink {
    /// The value on the page, for messages.
    pub raw: String,
    /// Resolved against the page; Err says why it is not a URL.
    pub url: Result<Url, String>,
}

impl ProvenanceLink {
    fn resolve(page_url: &Url, raw: &str) -> Self {
        let url = if raw.trim().is_empty() {
            Err("an empty value".to_string())
        } else {
            page_url.join(raw.trim()).map_err(|e| e.to_string())
        };
        ProvenanceLink {
            raw: raw.to_string(),
            url,
        }
    }
}

/// Parse a PEP 503 HTML page; relative links resolve against `page_url`.
pub fn parse_html(page_url: &Url, body: &str) -> Vec<IndexFile> {
    let document = scraper::Html::parse_document(body);
    let links = scraper::Selector::parse("a[href]").expect("a static, valid selector");
    document
        .select(&links)
        .filter_map(|a| {
            let href = a.value().attr("href")?;
            let mut url = page_url.join(href).ok()?;
            let sha256 = url
                .fragment()
                .and_then(|f| f.strip_prefix("sha256="))
                .map(str::to_ascii_lowercase);
            url.set_fragment(None);
            let text = a.text().collect::<String>();
            let filename = match text.trim() {
                "" => url.path_segments()?.next_back()?.to_string(),
                name => name.to_string(),
            };
            Some(IndexFile {
                filename,
                url,
                sha256,
                requires_python: a.value().attr("data-requires-python").map(str::to_string),
                provenance: a
                    .value()
                    .attr("data-provenance")
                    .map(|raw| ProvenanceLink::resolve(page_url, raw)),
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    /// PEP 740: a URL or null.
    #[serde(default)]
    provenance: Option<String>,
}

/// Parse a PEP 691 JSON page.
pub fn parse_json(page_url: &Url, body: &[u8]) -> Result<Vec<IndexFile>, String> {
    let page: JsonPage = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    page.files
        .into_iter()
        .map(|f| {
            let mut url = page_url
                .join(&f.url)
                .map_err(|e| format!("{}: {e}", f.url))?;
            let fragment_hash = url
                .fragment()
                .and_then(|fr| fr.strip_prefix("sha256="))
                .map(str::to_string);
            url.set_fragment(None);
            let sha256 = f
                .hashes
                .get("sha256")
                .cloned()
                .or(fragment_hash)
                .map(|h| h.to_ascii_lowercase());
            Ok(IndexFile {
                filename: f.filename,
                url,
                sha256,
                requires_python: f.requires_python,
                provenance: f
                    .provenance
                    .map(|raw| ProvenanceLink::resolve(page_url, &raw)),
            })
        })
        .collect()
}

/// The `Accept` header for a simple page: JSON preferred, HTML accepted.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";

/// Parse a page in whichever format the server chose.
pub fn parse_page(
    page_url: &Url,
    content_type: &str,
    body: &[u8],
) -> Result<Vec<IndexFile>, String> {
    if content_type.starts_with("application/vnd.pypi.simple.v1+json")
        || content_type.starts_with("application/json")
    {
        parse_json(page_url, body)
    } else {
        Ok(parse_html(page_url, &String::from_utf8_lossy(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "ab0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01b";

    #[test]
    fn gitlab_html() {
        let page =
            Url::parse("https://gitlab.example/api/v4/projects/7/packages/pypi/simple/my-pkg")
                .unwrap();
        let body = format!(
            r#"<!DOCTYPE html><html><body><h1>Links for my-pkg</h1>
            <a href="https://gitlab.example/api/v4/projects/7/packages/pypi/files/{H}/my_pkg-1.0-py3-none-any.whl#sha256={H}" data-requires-python="&gt;=3.9">my_pkg-1.0-py3-none-any.whl</a><br>
            <a href="../../files/{H}/my_pkg-1.0.tar.gz#sha256={}" data-requires-python="">my_pkg-1.0.tar.gz</a>
            </body></html>"#,
            H.to_uppercase()
        );
        let files = parse_html(&page, &body);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].filename, "my_pkg-1.0-py3-none-any.whl");
        assert_eq!(files[0].sha256.as_deref(), Some(H));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.9"));
        assert!(files[0].url.fragment().is_none());
        assert_eq!(files[1].sha256.as_deref(), Some(H), "hashes are lowercased");
        assert_eq!(files[0].provenance, None, "GitLab gives no provenance");
        assert_eq!(
            files[1].url.as_str(),
            format!(
                "https://gitlab.example/api/v4/projects/7/packages/files/{H}/my_pkg-1.0.tar.gz"
            )
        );
    }

    #[test]
    fn pep_691_json() {
        let page = Url::parse("https://idx.example/simple/my-pkg/").unwrap();
        let body = format!(
            r#"{{"meta":{{"api-version":"1.0"}},"name":"my-pkg","files":[{{"filename":"my_pkg-1.0.tar.gz","url":"../../f/my_pkg-1.0.tar.gz","hashes":{{"sha256":"{H}"}},"requires-python":">=3.9"}}]}}"#
        );
        let files = parse_page(
            &page,
            "application/vnd.pypi.simple.v1+json",
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            files[0].url.as_str(),
            "https://idx.example/f/my_pkg-1.0.tar.gz"
        );
        assert_eq!(files[0].sha256.as_deref(), Some(H));
        assert_eq!(files[0].provenance, None, "no provenance key");
        assert!(parse_json(&page, b"{").is_err());
    }

    #[test]
    fn provenance_links_resolve_against_the_page() {
        let page = Url::parse("https://idx.example/simple/my-pkg/").unwrap();
        let resolved = |f: &IndexFile| f.provenance.as_ref().map(|l| l.url.clone());
        let json = br#"{"files":[
            {"filename":"a-1.0.tar.gz","url":"a","provenance":"https://idx.example/integrity/a/1.0/a-1.0.tar.gz/provenance"},
            {"filename":"a-1.0-py3-none-any.whl","url":"b","provenance":"../../p/a-1.0-py3-none-any.whl"},
            {"filename":"a-1.1.tar.gz","url":"c","provenance":null},
            {"filename":"a-1.2.tar.gz","url":"d","provenance":""}]}"#;
        let files = parse_json(&page, json).unwrap();
        assert_eq!(
            resolved(&files[0]),
            Some(Ok(Url::parse(
                "https://idx.example/integrity/a/1.0/a-1.0.tar.gz/provenance"
            )
            .unwrap()))
        );
        assert_eq!(
            resolved(&files[1]),
            Some(Ok(Url::parse(
                "https://idx.example/p/a-1.0-py3-none-any.whl"
            )
            .unwrap()))
        );
        assert_eq!(resolved(&files[2]), None, "null is no link");
        assert_eq!(resolved(&files[3]), Some(Err("an empty value".into())));

        let html = r#"<a href="/f/a-1.0.tar.gz#sha256=00" data-provenance="../../p/a-1.0.tar.gz?x=1&amp;y=2">a-1.0.tar.gz</a>
            <a href="/f/a-1.1.tar.gz" data-provenance="http://[::1">a-1.1.tar.gz</a>
            <a href="/f/a-1.2.tar.gz">a-1.2.tar.gz</a>"#;
        let files = parse_html(&page, html);
        assert_eq!(
            resolved(&files[0]),
            Some(Ok(
                Url::parse("https://idx.example/p/a-1.0.tar.gz?x=1&y=2").unwrap()
            )),
            "entities decoded, relative resolved"
        );
        let bad = files[1].provenance.as_ref().unwrap();
        assert_eq!(bad.raw, "http://[::1");
        assert!(bad.url.is_err());
        assert_eq!(resolved(&files[2]), None);
    }
}
