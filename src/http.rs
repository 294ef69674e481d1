//! The one place HTTP clients are built.
//!
//! Every client gets a user agent, connect and request timeouts, and a redirect
//! policy that never leaves the original origin (scheme, host and port):
//! credentials, including a token in a 307/308 body, must not follow a
//! redirect elsewhere or down to http. Retries with backoff wrap idempotent
//! requests only.
//!
//! TLS roots: reqwest's rustls-platform-verifier reads the system store on
//! Linux through rustls-native-certs, which honours `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` as OpenSSL does. So private CAs (and the tests' https PyPI,
//! tests/it/trusted_publishing.rs) work without a flag, like twine and uv.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Settings shared by every client.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Attempts after the first one, for retryable failures.
    pub retries: usize,
    pub min_backoff: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retries: 3,
            min_backoff: Duration::from_millis(250),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build an HTTP client")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// A client for talking to Sigstore services (Rekor lookups). No credentials are
/// sent, but redirects still stay on the same host: a log that redirects
/// elsewhere is misconfigured or hostile.
pub fn sigstore_client(settings: &HttpSettings) -> Result<reqwest::Client, ClientBuildError> {
    base_builder(settings).build().map_err(ClientBuildError)
}

/// A client for package registries. It follows no redirects by itself: a
/// 302 from GitLab's simple index means "not here, try pypi.org", and a
/// download redirect to object storage must not carry GitLab's token headers
/// (reqwest strips `Authorization` across hosts, but not `JOB-TOKEN` or
/// `PRIVATE-TOKEN`). Callers use [`follow_redirects`] where it is wanted.
pub fn registry_client(settings: &HttpSettings) -> Result<reqwest::Client, ClientBuildError> {
    reqwest::Client::builder()
        .user_agent(concat!("gl-sign/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.connect_timeout)
        // Uploads and downloads of large dists stream for a long time; stalls
        // are caught by the read timeout instead of a total deadline.
        .read_timeout(settings.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ClientBuildError)
}

/// Whether credentials may be sent to `url`: https, or plain http to loopback
/// (the local test services and port-forwards).
pub fn may_carry_credentials(url: &reqwest::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// GET `url`, following up to five redirects; `authorize` is applied only
/// while the request stays on the original scheme, host and port.
pub async fn follow_redirects(
    client: &reqwest::Client,
    url: reqwest::Url,
    authorize: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, reqwest::Error> {
    let origin = url.origin();
    let mut current = url;
    let mut hops = 0;
    loop {
        let mut request = client.get(current.clone());
        if current.origin() == origin {
            request = authorize(request);
        }
        let response = request.send().await?;
        let location = response
            .status()
            .is_redirection()
            .then(|| {
                response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_string)
            })
            .flatten();
        match location.and_then(|l| current.join(&l).ok()) {
            Some(next) if hops < 5 => {
                current = next;
                hops += 1;
            }
            _ => return Ok(response),
        }
    }
}

fn base_builder(settings: &HttpSettings) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("gl-sign/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .redirect(same_origin_redirects())
}

/// Follow at most five redirects, all within the first request's origin.
/// reqwest's default strips `Authorization` across hosts, but re-sends a
/// 307/308 body (where Fulcio's token travels) and follows https -> http.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| same_origin(first, attempt.url()));
        if attempt.previous().len() > 5 || !same {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// Same scheme, host and port (default ports made explicit): where a
/// credential meant for one URL may also go.
pub fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Whether a failed attempt is worth repeating: server errors, rate limits,
/// timeouts and dropped connections are; client errors are not.
pub fn is_retryable(err: &reqwest::Error) -> bool {
    if let Some(status) = err.status() {
        return status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    }
    err.is_timeout() || err.is_connect() || err.is_request() || err.is_body()
}

/// Run `attempt` until it succeeds, fails for good, or retries run out.
async fn with_retries<T, F, Fut>(settings: &HttpSettings, attempt: F) -> Result<T, reqwest::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, reqwest::Error>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(settings.min_backoff)
        .with_max_times(settings.retries)
        .with_jitter();
    attempt.retry(backoff).when(is_retryable).await
}

/// Send the request `build` makes, again on 5xx, 429, timeouts and dropped
/// connections (with backoff). Other answers, errors included, are returned
/// for the caller to read. Only for requests that are safe to repeat.
pub async fn send_retrying(
    settings: &HttpSettings,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, reqwest::Error> {
    with_retries(settings, || async {
        let response = build().send().await?;
        // Turn the retryable statuses into errors so the retry policy sees them.
        if response.status().is_server_error()
            || response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            return response.error_for_status();
        }
        Ok(response)
    })
    .await
}

/// `url` with any user:password removed, for messages.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
            }
            parsed.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}

crate::register_hint!(none ClientBuildError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_only_over_https_or_loopback() {
        let ok = |u: &str| may_carry_credentials(&reqwest::Url::parse(u).unwrap());
        assert!(ok("https://gitlab.com/api/v4"));
        assert!(ok("http://127.0.0.1:8080/x"));
        assert!(ok("http://[::1]:8080/x"));
        assert!(ok("http://localhost/x"));
        assert!(!ok("http://gitlab.example.com/api/v4"));
        assert!(!ok("http://10.0.0.1/x"));
        assert!(!ok("ftp://gitlab.com/x"));
    }

    #[test]
    fn redirects_stay_on_scheme_host_and_port() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let origin = url("https://fulcio.example.test/api/v2/signingCert");
        assert!(same_origin(
            &origin,
            &url("https://fulcio.example.test:443/other")
        ));
        assert!(!same_origin(
            &origin,
            &url("http://fulcio.example.test/api/v2/signingCert")
        ));
        assert!(!same_origin(
            &origin,
            &url("https://fulcio.example.test:8443/x")
        ));
        assert!(!same_origin(&origin, &url("https://evil.example.test/x")));
        let local = url("http://127.0.0.1:8080/x");
        assert!(!same_origin(&local, &url("http://127.0.0.1:8081/x")));
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url("https://user:secret@example.test/x"),
            "https://example.test/x"
        );
        assert_eq!(redact_url("https://example.test/"), "https://example.test");
        assert_eq!(redact_url("not a url secret"), "<invalid URL>");
    }
}
