//! Self-tests of `support::gitlab_registry::LocalGitLab`: GitLab's PyPI and
//! generic registries answer as the spec says (bodies, codes, auth rules,
//! index format), twine uploads and pip downloads against it, and every
//! fault switch is visible over HTTP and in the counters.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::gitlab_registry::{
    endpoint, make_wheel, multipart_body, twine_fields, AuthScheme, LocalGitLab, Registry, Role,
    TokenKind, CI_JOB_USER,
};

/// What came back.
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

/// A synchronous reqwest client that never follows redirects.
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .unwrap(),
        }
    }

    fn send(&self, req: reqwest::RequestBuilder) -> Result<Resp, String> {
        self.rt.block_on(async {
            let r = req.send().await.map_err(|e| format!("{e:?}"))?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let body = r.bytes().await.map_err(|e| format!("{e:?}"))?.to_vec();
            Ok(Resp {
                status,
                headers,
                body,
            })
        })
    }

    fn ok(&self, req: reqwest::RequestBuilder) -> Resp {
        self.send(req).expect("request")
    }
}

fn basic(user: &str, token: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{token}")))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// POST a wheel the way twine/gl-sign do; `auth` is an `Authorization` value.
fn upload(
    http: &Http,
    url: &str,
    auth: Option<(&str, &str)>,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> Resp {
    let (ct, body) = multipart_body(fields, file);
    let mut req = http.client.post(url).header("content-type", ct).body(body);
    if let Some((k, v)) = auth {
        req = req.header(k, v);
    }
    http.ok(req)
}

fn upload_wheel(http: &Http, gl: &LocalGitLab, auth: &str, wheel: &(String, Vec<u8>)) -> Resp {
    let sha = sha256_hex(&wheel.1);
    upload(
        http,
        &gl.pypi_url(gl.project_id()),
        Some(("authorization", auth)),
        &twine_fields("demo-pkg", "1.0", &sha, ">=3.8"),
        Some((&wheel.0, &wheel.1)),
    )
}

/// `(href, data-requires-python, text)` of every link in a simple page.
fn links(html: &str) -> Vec<(String, String, String)> {
    let re = regex::Regex::new(r#"<a href="([^"]*)" data-requires-python="([^"]*)">([^<]*)</a>"#)
        .unwrap();
    re.captures_iter(html)
        .map(|c| (c[1].to_string(), c[2].to_string(), c[3].to_string()))
        .collect()
}

#[test]
fn pypi_upload_is_listed_with_sha256_and_requires_python_and_downloads() {
    let gl = LocalGitLab::start();
    let http = Http::new();
    let wheel = make_wheel("demo-pkg", "1.0", Some(">=3.8"), "a");
    assert_eq!(wheel.0, "demo_pkg-1.0-py3-none-any.whl");
    let sha = sha256_hex(&wheel.1);

    let r = upload_wheel(&http, &gl, &basic(CI_JOB_USER, &gl.job_token()), &wheel);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json(), json!({ "message": "201 Created" }));

    let stored = gl.stored_file(&wheel.0).expect("stored");
    assert_eq!(stored.registry, Registry::Pypi);
    assert_eq!(stored.package_name, "demo-pkg");
    assert_eq!(stored.sha256, sha);
    assert_eq!(stored.declared_sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(stored.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(stored.field(":action"), Some("file_upload"));
    assert_eq!(stored.uploaded_with, Some(TokenKind::Job));
    assert_eq!(stored.bytes(), wheel.1);
    assert_eq!(gl.sha256_of(&wheel.0).as_deref(), Some(sha.as_str()));
    assert_eq!(gl.upload_count(&wheel.0), 1);

    // Index: pip's trailing-slash form, as the job token over Basic.
    let auth = basic(CI_JOB_USER, &gl.job_token());
    let page = http.ok(http
        .client
        .get(format!("{}/demo-pkg/", gl.simple_url(gl.project_id())))
        .header("authorization", &auth));
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.contains("<title>Links for demo-pkg</title>"), "{html}");
    let expected_href = format!(
        "{}/files/{sha}/{}#sha256={sha}",
        gl.pypi_url(gl.project_id()),
        wheel.0
    );
    assert_eq!(
        links(&html),
        vec![(
            expected_href.clone(),
            "&gt;=3.8".to_string(),
            wheel.0.clone()
        )]
    );

    // Download through the advertised link.
    let href = expected_href.split('#').next().unwrap().to_string();
    let file = http.ok(http.client.get(&href).header("authorization", &auth));
    assert_eq!(file.status, 200);
    assert_eq!(file.body, wheel.1);
    // Keyed on (sha256, file name): another sha is 404.
    let wrong = href.replace(&sha, &"0".repeat(64));
    let r = http.ok(http.client.get(&wrong).header("authorization", &auth));
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({ "message": "404 Package Not Found" }));

    // Project index: one link per package, to the normalized name.
    let index = http.ok(http
        .client
        .get(gl.simple_url(gl.project_id()))
        .header("authorization", &auth));
    assert_eq!(index.status, 200);
    assert_eq!(
        links(&index.text()),
        vec![(
            format!("{}/demo-pkg", gl.simple_url(gl.project_id())),
            "&gt;=3.8".to_string(),
            "demo-pkg".to_string()
        )]
    );
    assert!(index.text().contains("<title>Links for project</title>"));

    // Every PyPI request used Basic as gitlab-ci-token.
    for ep in [
        endpoint::PYPI_UPLOAD,
        endpoint::PYPI_SIMPLE_PACKAGE,
        endpoint::PYPI_DOWNLOAD,
        endpoint::PYPI_SIMPLE_INDEX,
    ] {
        let used = gl.auth_used(ep);
        assert!(!used.is_empty(), "{ep}");
        for a in used {
            assert_eq!(
                a,
                vec![AuthScheme::Basic {
                    username: CI_JOB_USER.into()
                }]
            );
        }
    }
    let records = gl.request_records();
    assert!(records
        .iter()
        .all(|r| r.authenticated_as == Some(TokenKind::Job)));
    assert_eq!(gl.requests(endpoint::PYPI_DOWNLOAD), 2);
}

#[test]
fn pypi_duplicates_and_package_level_requires_python() {
    let gl = LocalGitLab::start();
    let http = Http::new();
    let auth = basic(CI_JOB_USER, &gl.job_token());
    let wheel = make_wheel("demo-pkg", "1.0", Some(">=3.8"), "a");
    assert_eq!(upload_wheel(&http, &gl, &auth, &wheel).status, 201);

    // The same file again, even identical: 400, not idempotent.
    let r = upload_wheel(&http, &gl, &auth, &wheel);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({ "message": "400 Bad request - Validation failed: File name has already been taken" })
    );
    // Different bytes under the same name: same 400.
    let other = (wheel.0.clone(), make_wheel("demo-pkg", "1.0", None, "b").1);
    assert_eq!(upload_wheel(&http, &gl, &auth, &other).status, 400);
    assert_eq!(gl.upload_count(&wheel.0), 1);
    assert_eq!(gl.upload_attempts(&wheel.0), 3);

    // Another file of the same version is appended; without requires_python
    // the package-level value becomes "" for every file of the version.
    let sdist = b"not really a tarball".to_vec();
    let sha = sha256_hex(&sdist);
    let fields: Vec<(&str, &str)> = twine_fields("demo-pkg", "1.0", &sha, "")
        .into_iter()
        .filter(|(k, _)| *k != "requires_python")
        .collect();
    let r = upload(
        &http,
        &gl.pypi_url(gl.project_id()),
        Some(("authorization", &auth)),
        &fields,
        Some(("demo_pkg-1.0.tar.gz", &sdist)),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let page = http.ok(http
        .client
        .get(format!("{}/demo-pkg", gl.simple_url(gl.project_id())))
        .header("authorization", &auth));
    let l = links(&page.text());
    assert_eq!(l.len(), 2);
    assert!(l.iter().all(|(_, rp, _)| rp.is_empty()), "{l:?}");
    assert_eq!(gl.stored_files_in(gl.project_id(), Registry::Pypi).len(), 2);
}

#[test]
fn pypi_auth_rules() {
    let gl = LocalGitLab::start();
    let http = Http::new();
    let pid = gl.project_id();
    let wheel = make_wheel("demo-pkg", "1.0", None, "a");
    let up = |auth: Option<(&str, &str)>, name: &str| {
        let w = (name.to_string(), wheel.1.clone());
        upload(
            &http,
            &gl.pypi_url(pid),
            auth,
            &twine_fields("demo-pkg", "1.0", &sha256_hex(&w.1), ""),
            Some((&w.0, &w.1)),
        )
    };
    let unauthorized = |r: &Resp| {
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json(), json!({ "message": "401 Unauthorized" }));
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Basic realm=\"GitLab Packages Registry\"")
        );
    };
    let job = gl.job_token();
    let pat = gl.personal_token();
    let deploy = gl.deploy_token();

    unauthorized(&up(None, "a.whl"));
    // JOB-TOKEN header is not accepted on PyPI routes.
    unauthorized(&up(Some(("job-token", &job)), "a.whl"));
    unauthorized(&up(
        Some(("authorization", &basic(CI_JOB_USER, "nope"))),
        "a.whl",
    ));
    // The job token needs the gitlab-ci-token user; a PAT must not use it.
    unauthorized(&up(
        Some(("authorization", &basic("someone", &job))),
        "a.whl",
    ));
    unauthorized(&up(
        Some(("authorization", &basic(CI_JOB_USER, &pat))),
        "a.whl",
    ));
    // PAT with any user name, deploy token with its user name: accepted.
    let r = up(Some(("authorization", &basic("anyone", &pat))), "pat.whl");
    assert_eq!(r.status, 201, "{}", r.text());
    let r = up(
        Some((
            "authorization",
            &basic(&gl.deploy_token_username(), &deploy),
        )),
        "deploy.whl",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        gl.stored_file("deploy.whl").unwrap().uploaded_with,
        Some(TokenKind::Deploy)
    );

    // Reporter: reads, cannot upload (403). Guest: 403 on reads.
    let reporter = gl.add_token(TokenKind::Personal, pid, Role::Reporter);
    let r = up(Some(("authorization", &basic("u", &reporter))), "r.whl");
    assert_eq!(
        (r.status, r.json()),
        (403, json!({ "message": "403 Forbidden" }))
    );
    let simple = format!("{}/demo-pkg/", gl.simple_url(pid));
    let r = http.ok(http
        .client
        .get(&simple)
        .header("authorization", basic("u", &reporter)));
    assert_eq!(r.status, 200);
    let guest = gl.add_token(TokenKind::Personal, pid, Role::Guest);
    let r = http.ok(http
        .client
        .get(&simple)
        .header("authorization", basic("u", &guest)));
    assert_eq!(
        (r.status, r.json()),
        (403, json!({ "message": "403 Forbidden" }))
    );

    // Private project of someone else: 404 for a valid non-member, 403 for a
    // job token outside its project; unknown project: 404 even anonymously.
    let other = gl.add_project("other/project");
    let r = http.ok(http
        .client
        .get(format!("{}/demo-pkg/", gl.simple_url(other)))
        .header("authorization", basic("u", &pat)));
    assert_eq!(
        (r.status, r.json()),
        (404, json!({ "message": "404 Not Found" }))
    );
    let r = http.ok(http
        .client
        .get(format!("{}/demo-pkg/", gl.simple_url(other)))
        .header("authorization", basic(CI_JOB_USER, &job)));
    assert_eq!(r.status, 403);
    let r = http.ok(http.client.get(format!("{}/x/", gl.simple_url(999))));
    assert_eq!(
        (r.status, r.json()),
        (404, json!({ "message": "404 Not Found" }))
    );
    // The URL-encoded project path works like the id.
    let by_path = gl
        .simple_url(pid)
        .replace(&format!("/{pid}/"), "/group%2Fproject/");
    let r = http.ok(http
        .client
        .get(format!("{by_path}/demo-pkg/"))
        .header("authorization", basic(CI_JOB_USER, &job)));
    assert_eq!(r.status, 200, "{}", r.text());

    // A finished job's token is 401.
    gl.revoke_token(&job);
    unauthorized(&up(
        Some(("authorization", &basic(CI_JOB_USER, &job))),
        "late.whl",
    ));

    // Public project: anonymous reads, anonymous upload still 401.
    gl.set_project_public(pid, true);
    assert_eq!(http.ok(http.client.get(&simple)).status, 200);
    unauthorized(&up(None, "anon.whl"));
    assert_eq!(
        gl.auth_used(endpoint::PYPI_UPLOAD)[1],
        vec![AuthScheme::JobTokenHeader]
    );
}

#[test]
fn pypi_upload_validation_limits_and_digests() {
    let gl = LocalGitLab::start();
    let http = Http::new();
    let pid = gl.project_id();
    let auth = basic(CI_JOB_USER, &gl.job_token());
    let a = Some(("authorization", auth.as_str()));
    let url = gl.pypi_url(pid);
    let data = b"wheel bytes".to_vec();
    let sha = sha256_hex(&data);

    let r = upload(&http, &url, a, &[], None);
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({ "error": "content is missing, name is missing, version is missing" })
        )
    );
    let r = upload(
        &http,
        &url,
        a,
        &twine_fields("demo-pkg", "1.0", "XYZ", ""),
        Some(("d-1.0-py3-none-any.whl", &data)),
    );
    assert_eq!(
        (r.status, r.json()),
        (400, json!({ "error": "sha256_digest is invalid" }))
    );
    let r = upload(
        &http,
        &url,
        a,
        &twine_fields("demo-pkg", "not a version", &sha, ""),
        Some(("d-1.0-py3-none-any.whl", &data)),
    );
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({ "message": "400 Bad request - Validation failed: Version is invalid" })
        )
    );
    let r = upload(
        &http,
        &url,
        a,
        &twine_fields("bad name!", "1.0", &sha, ""),
        Some(("d-1.0-py3-none-any.whl", &data)),
    );
    assert_eq!(
        r.json(),
        json!({ "message": "400 Bad request - Validation failed: Name is invalid" })
    );

    // Size limit: 400 as specified, or Workhorse's 413.
    gl.set_pypi_max_file_size(4);
    let r = upload(
        &http,
        &url,
        a,
        &twine_fields("demo-pkg", "1.0", &sha, ""),
        Some(("d-1.0-py3-none-any.whl", &data)),
    );
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({ "message": "400 Bad request - File is too large" })
        )
    );
    gl.set_workhorse_size_check(true);
    let r = upload(
        &http,
        &url,
        a,
        &twine_fields("demo-pkg", "1.0", &sha, ""),
        Some(("d-1.0-py3-none-any.whl", &data)),
    );
    assert_eq!(r.status, 413);
    gl.set_workhorse_size_check(false);
    gl.set_pypi_max_file_size(1 << 30);
    assert!(gl.stored_files(pid).is_empty());

    // FIPS: no sha256_digest is 422.
    gl.set_fips(true);
    let r = upload(
        &http,
        &url,
        a,
        &[("name", "demo-pkg"), ("version", "1.0")],
        Some(("d-1.0-py3-none-any.whl", &data)),
    );
    assert_eq!(
        (r.status, r.json()),
        (422, json!({ "message": "422 Unprocessable Entity" }))
    );
    gl.set_fips(false);

    // GitLab stores the client's digest without checking it: the index then
    // advertises the wrong hash and the true one is not downloadable.
    let wrong = "AB".repeat(32);
    let r = upload(
        &http,
        &url,
        a,
        &twine_fields("demo-pkg", "1.0", &wrong, "<4,>=3.9"),
        Some(("d-1.0-py3-none-any.whl", &data)),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let f = gl.stored_file("d-1.0-py3-none-any.whl").unwrap();
    assert_eq!(
        f.declared_sha256.as_deref(),
        Some(wrong.to_lowercase().as_str())
    );
    assert_eq!(f.sha256, sha);
    let page = http.ok(http
        .client
        .get(format!("{}/demo-pkg", gl.simple_url(pid)))
        .header("authorization", &auth));
    let l = links(&page.text());
    assert!(l[0]
        .0
        .ends_with(&format!("#sha256={}", wrong.to_lowercase())));
    assert_eq!(l[0].1, "&lt;4,&gt;=3.9");
    let r = http.ok(http
        .client
        .get(format!("{url}/files/{sha}/d-1.0-py3-none-any.whl"))
        .header("authorization", &auth));
    assert_eq!(r.status, 404);

    // Multipart file name is sanitized like GitLab's UploadedFile.
    let r = upload(
        &http,
        &url,
        a,
        &twine_fields("demo-pkg", "1.0", &sha, ""),
        Some(("dir/my file.whl", &data)),
    );
    assert_eq!(r.status, 201);
    assert!(gl.stored_file("my_file.whl").is_some());
}

#[test]
fn pypi_forwarding_index_root_and_pep691() {
    let gl = LocalGitLab::start();
    let http = Http::new();
    let pid = gl.project_id();
    let auth = basic(CI_JOB_USER, &gl.job_token());
    let wheel = make_wheel("Demo_Pkg", "1.0", Some(">=3.8"), "a");
    let sha = sha256_hex(&wheel.1);
    let r = upload(
        &http,
        &gl.pypi_url(pid),
        Some(("authorization", &auth)),
        &twine_fields("Demo_Pkg", "1.0", &sha, ">=3.8"),
        Some((&wheel.0, &wheel.1)),
    );
    assert_eq!(r.status, 201);

    let get = |path: &str| {
        http.ok(http
            .client
            .get(format!("{}/{path}", gl.simple_url(pid)))
            .header("authorization", &auth))
    };
    // The stored name is normalized for lookup; the requested one is only
    // lower-cased, so a non-normalized request is forwarded to pypi.org.
    assert_eq!(get("demo-pkg/").status, 200);
    assert_eq!(get("DEMO-PKG").status, 200);
    let r = get("Demo_Pkg/");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://pypi.org/simple/Demo_Pkg/")
    );
    let r = get("unknown-pkg");
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (302, Some("https://pypi.org/simple/unknown-pkg/"))
    );
    gl.set_pypi_forwarding(false);
    let r = get("unknown-pkg");
    assert_eq!(
        (r.status, r.json()),
        (404, json!({ "message": "404 Package Not Found" }))
    );
    // The stored name shows in title and index link text.
    assert!(get("demo-pkg")
        .text()
        .contains("<title>Links for Demo_Pkg</title>"));

    // PEP 691 JSON only behind the feature flag.
    let json_get = |path: &str| {
        http.ok(http
            .client
            .get(format!("{}/{path}", gl.simple_url(pid)))
            .header("authorization", &auth)
            .header("accept", "application/vnd.pypi.simple.v1+json"))
    };
    assert!(json_get("demo-pkg/")
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    gl.set_pep691_json(true);
    let r = json_get("demo-pkg/");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/vnd.pypi.simple.v1+json; charset=utf-8")
    );
    assert_eq!(r.header("vary").as_deref(), Some("Accept"));
    let v = r.json();
    assert_eq!(v["name"], "demo-pkg");
    assert_eq!(v["files"][0]["hashes"]["sha256"], sha.as_str());
    assert_eq!(v["files"][0]["requires-python"], ">=3.8");
    let idx = http.ok(http
        .client
        .get(gl.simple_url(pid))
        .header("authorization", &auth)
        .header("accept", "application/vnd.pypi.simple.latest+json"));
    assert_eq!(
        idx.json(),
        json!({ "meta": { "api-version": "1.0" }, "projects": [{ "name": "demo-pkg" }] })
    );
}

#[test]
fn generic_registry_put_get_duplicates_and_auth() {
    let gl = LocalGitLab::start();
    let http = Http::new();
    let pid = gl.project_id();
    let job = gl.job_token();
    let url = format!("{}/gl-sign/1.2.3/demo.sigstore.json", gl.generic_url(pid));
    let data = b"{\"bundle\":1}".to_vec();

    let r = http.ok(http
        .client
        .put(&url)
        .header("job-token", &job)
        .body(data.clone()));
    assert_eq!(
        (r.status, r.json()),
        (201, json!({ "message": "201 Created" }))
    );
    let r = http.ok(http.client.get(&url).header("job-token", &job));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("x-checksum-sha256"), Some(sha256_hex(&data)));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename=\"demo.sigstore.json\""));

    // select=package_file: 200 with the package file JSON.
    let r = http.ok(http
        .client
        .put(format!("{url}?select=package_file"))
        .header("private-token", gl.personal_token())
        .body(b"v2".to_vec()));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["file_name"], "demo.sigstore.json");
    assert_eq!(v["file_sha256"], sha256_hex(b"v2").as_str());
    assert_eq!(v["size"], 2);
    assert!(v["id"].is_u64() && v["package_id"].is_u64());
    // Duplicates are appended by default; GET returns the newest.
    let r = http.ok(http
        .client
        .get(&url)
        .header("authorization", basic(CI_JOB_USER, &job)));
    assert_eq!(r.body, b"v2");
    assert_eq!(gl.upload_count("demo.sigstore.json"), 2);
    gl.set_generic_duplicates_allowed(false);
    let r = http.ok(http
        .client
        .put(&url)
        .header("deploy-token", gl.deploy_token())
        .body(b"v3".to_vec()));
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({ "message": "400 Bad request - Duplicate package is not allowed" })
        )
    );
    gl.set_generic_duplicate_exception_regex(Some("^1\\.2\\.3$"));
    let r = http.ok(http
        .client
        .put(&url)
        .header("job-token", &job)
        .body(b"v3".to_vec()));
    assert_eq!(r.status, 201);

    // Validation and auth.
    let bad = format!("{}/gl-sign/..1.2/x.txt", gl.generic_url(pid));
    let r = http.ok(http.client.put(&bad).header("job-token", &job).body("x"));
    assert_eq!(
        (r.status, r.json()),
        (400, json!({ "error": "package_version is invalid" }))
    );
    let r = http.ok(http.client.put(&url).body("x"));
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let r = http.ok(http
        .client
        .put(&url)
        .header("job-token", "glcbt-wrong")
        .body("x"));
    assert_eq!(r.status, 401);
    let reporter = gl.add_token(TokenKind::Deploy, pid, Role::Reporter);
    let r = http.ok(http
        .client
        .put(&url)
        .header("deploy-token", &reporter)
        .body("x"));
    assert_eq!(r.status, 403);
    let r = http.ok(http.client.get(&url).header("deploy-token", &reporter));
    assert_eq!(r.status, 200);
    let missing = format!("{}/gl-sign/9.9.9/none.txt", gl.generic_url(pid));
    let r = http.ok(http.client.get(&missing).header("job-token", &job));
    assert_eq!(
        (r.status, r.json()),
        (404, json!({ "message": "404 Not found" }))
    );
    let r = http.ok(http
        .client
        .put(format!("{url}?status=processing"))
        .header("job-token", &job)
        .body("x"));
    assert_eq!(
        r.json(),
        json!({ "error": "status does not have a valid value" })
    );

    // Size limit.
    gl.set_generic_max_file_size(3);
    let big = format!("{}/gl-sign/1.2.3/big.bin", gl.generic_url(pid));
    let r = http.ok(http.client.put(&big).header("job-token", &job).body("four"));
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({ "message": "400 Bad request - File is too large" })
        )
    );
    gl.set_generic_max_file_size(1 << 40);

    // A large upload streams to disk and back (hash checked both ways).
    let large: Vec<u8> = (0..(24u32 << 20)).map(|i| (i % 251) as u8).collect();
    let r = http.ok(http
        .client
        .put(&big)
        .header("job-token", &job)
        .body(large.clone()));
    assert_eq!(r.status, 201);
    let r = http.ok(http.client.get(&big).header("job-token", &job));
    assert_eq!(r.body.len(), large.len());
    assert_eq!(r.header("x-checksum-sha256"), Some(sha256_hex(&large)));
    assert_eq!(gl.sha256_of("big.bin"), Some(sha256_hex(&large)));

    assert_eq!(
        gl.auth_used(endpoint::GENERIC_UPLOAD)[0],
        vec![AuthScheme::JobTokenHeader]
    );
    assert_eq!(gl.requests(endpoint::GENERIC_DOWNLOAD), 5);
}

#[test]
fn faults_are_visible() {
    let gl = LocalGitLab::start();
    let http = Http::new();
    let pid = gl.project_id();
    let auth = basic(CI_JOB_USER, &gl.job_token());
    let wheel = make_wheel("demo-pkg", "1.0", None, "a");

    gl.fail_next(2, 503);
    for _ in 0..2 {
        let r = upload_wheel(&http, &gl, &auth, &wheel);
        assert_eq!(
            (r.status, r.json()),
            (503, json!({ "message": "503 Service Unavailable" }))
        );
    }
    assert_eq!(gl.upload_count(&wheel.0), 0);
    assert_eq!(upload_wheel(&http, &gl, &auth, &wheel).status, 201);
    assert_eq!(gl.injected_faults(), 2);

    // Dropped before handling: nothing stored.
    let w2 = make_wheel("demo-pkg", "2.0", None, "b");
    gl.drop_next(1);
    let (ct, body) = multipart_body(
        &twine_fields("demo-pkg", "2.0", "", ""),
        Some((&w2.0, &w2.1)),
    );
    let err = http
        .send(
            http.client
                .post(gl.pypi_url(pid))
                .header("authorization", &auth)
                .header("content-type", ct)
                .body(body),
        )
        .err()
        .expect("connection dropped");
    assert!(err.contains("Request") || err.contains("connect"), "{err}");
    assert_eq!(gl.upload_count(&w2.0), 0);

    // Dropped after handling: the client sees an error, the file IS stored.
    gl.drop_after_handling_next_on(endpoint::PYPI_UPLOAD, 1);
    let sha2 = sha256_hex(&w2.1);
    let (ct, body) = multipart_body(
        &twine_fields("demo-pkg", "2.0", &sha2, ""),
        Some((&w2.0, &w2.1)),
    );
    let r = http.send(
        http.client
            .post(gl.pypi_url(pid))
            .header("authorization", &auth)
            .header("content-type", ct)
            .body(body),
    );
    assert!(r.is_err(), "the response must be lost");
    assert_eq!(gl.upload_count(&w2.0), 1);
    assert_eq!(gl.sha256_of(&w2.0), Some(sha2));

    // Endpoint-scoped fault leaves other endpoints alone.
    gl.fail_next_on(endpoint::PYPI_SIMPLE_PACKAGE, 1, 500);
    let simple = format!("{}/demo-pkg/", gl.simple_url(pid));
    let file_req = || {
        http.ok(http
            .client
            .get(gl.simple_url(pid))
            .header("authorization", &auth))
    };
    assert_eq!(file_req().status, 200);
    let r = http.ok(http.client.get(&simple).header("authorization", &auth));
    assert_eq!(r.status, 500);
    assert_eq!(
        http.ok(http.client.get(&simple).header("authorization", &auth))
            .status,
        200
    );

    gl.set_latency(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(file_req().status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    gl.clear_faults();

    let log = gl.request_log();
    let upload = endpoint::PYPI_UPLOAD;
    assert_eq!(
        &log[..6],
        &[
            format!("{upload} -> 503 (injected)"),
            format!("{upload} -> 503 (injected)"),
            format!("{upload} -> 201"),
            format!("{upload} -> dropped"),
            format!("{upload} -> dropped after handling (201)"),
            format!("{} -> 200", endpoint::PYPI_SIMPLE_INDEX),
        ]
    );
    assert_eq!(gl.requests(upload), 5);
    assert_eq!(gl.injected_faults(), 5);
    gl.reset_counters();
    assert_eq!(gl.total_requests(), 0);
}

// ---------------------------------------------------------------------------
// Real clients: twine and pip
// ---------------------------------------------------------------------------

/// `$GL_SIGN_PYTHON_BIN/<tool>` or the project venv. Missing: skipped
/// locally (with a note), a failure under `CI`.
fn python_tool(tool: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("GL_SIGN_PYTHON_BIN").map(|d| PathBuf::from(d).join(tool)),
        Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".venv/bin")
                .join(tool),
        ),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        let why = format!("{tool} not found (set GL_SIGN_PYTHON_BIN to a venv bin dir with twine)");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipping: {why}");
    }
    found
}

fn python_env<'a>(cmd: &'a mut Command, home: &std::path::Path) -> &'a mut Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("TWINE_") || k.starts_with("PIP_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
}

#[test]
fn twine_uploads_and_pip_downloads() {
    let (Some(twine), Some(pip)) = (python_tool("twine"), python_tool("pip")) else {
        return;
    };
    let gl = LocalGitLab::start();
    let pid = gl.project_id();
    let job = gl.job_token();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let wheel = make_wheel("gl-sign-demo", "0.3.1", Some(">=3.8"), "twine");
    std::fs::write(dist.join(&wheel.0), &wheel.1).unwrap();

    let twine_upload = || {
        let out = python_env(&mut Command::new(&twine), tmp.path())
            .args(["upload", "--non-interactive", "--disable-progress-bar"])
            .args(["--repository-url", &gl.pypi_url(pid)])
            .args(["-u", CI_JOB_USER, "-p", &job])
            .arg(dist.join(&wheel.0))
            .output()
            .expect("run twine");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = twine_upload();
    assert!(ok, "twine upload failed:\n{out}");

    let stored = gl.stored_file(&wheel.0).expect("twine's upload is stored");
    assert_eq!(stored.bytes(), wheel.1);
    assert_eq!(stored.package_name, "gl-sign-demo");
    assert_eq!(stored.version, "0.3.1");
    assert_eq!(
        stored.declared_sha256.as_deref(),
        Some(sha256_hex(&wheel.1).as_str()),
        "twine sends sha256_digest"
    );
    assert_eq!(stored.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(stored.field(":action"), Some("file_upload"));
    assert_eq!(stored.field("filetype"), Some("bdist_wheel"));
    assert_eq!(
        gl.auth_used(endpoint::PYPI_UPLOAD),
        vec![vec![AuthScheme::Basic {
            username: CI_JOB_USER.into()
        }]]
    );

    // It is in the simple index with its sha256.
    let http = Http::new();
    let page = http.ok(http
        .client
        .get(format!("{}/gl-sign-demo/", gl.simple_url(pid)))
        .header("authorization", basic(CI_JOB_USER, &job)));
    let l = links(&page.text());
    assert_eq!(l.len(), 1);
    assert!(l[0]
        .0
        .ends_with(&format!("#sha256={}", sha256_hex(&wheel.1))));

    // twine again: GitLab's 400 "already been taken" fails the upload.
    let (ok, out) = twine_upload();
    assert!(!ok, "duplicate upload must fail:\n{out}");
    assert!(out.contains("400"), "{out}");
    eprintln!("twine on a duplicate:\n{out}");

    // pip resolves through the index and gets the exact bytes.
    let dl = tmp.path().join("dl");
    let out = python_env(&mut Command::new(&pip), tmp.path())
        .args(["download", "--no-deps", "--no-cache-dir", "--index-url"])
        .arg(gl.simple_url_with_credentials(pid, CI_JOB_USER, &job))
        .arg("gl-sign-demo==0.3.1")
        .arg("-d")
        .arg(&dl)
        .output()
        .expect("run pip");
    assert!(
        out.status.success(),
        "pip download failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dl.join(&wheel.0)).unwrap(), wheel.1);
    assert!(gl.requests(endpoint::PYPI_SIMPLE_PACKAGE) >= 1);
    assert_eq!(gl.requests(endpoint::PYPI_DOWNLOAD), 1);
    for a in gl.auth_used(endpoint::PYPI_DOWNLOAD) {
        assert_eq!(
            a,
            vec![AuthScheme::Basic {
                username: CI_JOB_USER.into()
            }]
        );
    }
}
