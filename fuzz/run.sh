#!/usr/bin/env bash
# Fuzz every parser of untrusted input, seeded with the real vectors in each
# form users have: Sigstore bundles (v0.1-v0.3, Rekor v1 and v2), DSSE bundles
# made from real PEP 740 attestations, the attestations themselves, cosign
# bundle, .sig, .crt as PEM and base64, trusted roots, signing configs, index
# pages, dists, versions, tokens and pyproject.toml.
# Usage: fuzz/run.sh [SECONDS]   (needs cargo-fuzz, and the nightly toolchain
# or, where only stable exists, RUSTC_BOOTSTRAP for libFuzzer's -Z flags;
# runs one libFuzzer process, so one core: prefix with `nice` to be polite)
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
fi
vectors=../tests/data/vectors
pep740=$vectors/pep740
[ -d "$pep740" ] || pep740=../../shared/vectors/pep740
corpus=corpus/parse_inputs
mkdir -p "$corpus"
cp "$vectors"/bundles/*.json "$vectors"/trusted_root.*.json "$vectors"/signing_config.*.json "$corpus/"
if [ -d "$pep740" ]; then
  cp "$pep740"/*.attestation "$pep740"/*.provenance "$pep740"/*.tar.gz "$corpus/"
else
  echo "note: no PEP 740 vectors ($vectors/pep740 or ../shared/vectors/pep740); DSSE seeds skipped" >&2
fi
python3 - "$corpus" "$vectors" "$pep740" <<'PY'
import base64, glob, io, json, os, sys, zipfile
out, vectors, pep740 = sys.argv[1:4]
b = json.load(open(os.path.join(vectors, "bundles/conf-happy-path-v0.3.sigstore.json")))
der = base64.b64decode(b["verificationMaterial"]["certificate"]["rawBytes"])
body = base64.b64encode(der).decode()
pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(body[i:i+64] for i in range(0, len(body), 64)) + "\n-----END CERTIFICATE-----\n"
e = b["verificationMaterial"]["tlogEntries"][0]
cosign = {"base64Signature": b["messageSignature"]["signature"], "cert": base64.b64encode(pem.encode()).decode(),
          "rekorBundle": {"SignedEntryTimestamp": e["inclusionPromise"]["signedEntryTimestamp"],
                          "Payload": {"body": e["canonicalizedBody"], "integratedTime": int(e["integratedTime"]),
                                      "logIndex": int(e["logIndex"]), "logID": base64.b64decode(e["logId"]["keyId"]).hex()}}}
page = {"meta": {"api-version": "1.1"}, "name": "pkg", "files": [
    {"filename": "pkg-1.0-py3-none-any.whl", "url": "../../files/pkg-1.0-py3-none-any.whl",
     "hashes": {"sha256": "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"}, "requires-python": ">=3.9"},
    {"filename": "pkg-1.0.tar.gz", "url": "https://files.example.test/pkg-1.0.tar.gz", "hashes": {}}]}
claims = base64.urlsafe_b64encode(json.dumps({"iss": "https://gitlab.com", "aud": "sigstore", "sub": "project_path:g/p:ref_type:branch:ref:main",
    "exp": 4102444800, "nbf": 0, "iat": 0}).encode()).decode().rstrip("=")
seeds = {"cosign.bundle": json.dumps(cosign), "a.crt.pem": pem, "a.crt.b64": base64.b64encode(pem.encode()).decode(),
         "a.sig": b["messageSignature"]["signature"], "a.sig.nl": b["messageSignature"]["signature"] + "\n",
         "index.json": json.dumps(page),
         "index.html": '<html><body><a href="../../files/pkg-1.0-py3-none-any.whl#sha256=a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf" data-requires-python="&gt;=3.9">pkg-1.0-py3-none-any.whl</a><a href="/pkg-1.0.tar.gz">pkg-1.0.tar.gz</a></body></html>',
         "filename.whl": "pkg_name-1.0.post1-py3-none-any.whl", "filename.sdist": "pkg-name-2.0rc1.tar.gz",
         "version": "1.0.post1.dev3+local.7", "tag": "v1.2.3", "homepage": "https://gitlab.example.test/group/pkg",
         "token": "eyJhbGciOiJSUzI1NiJ9." + claims + ".c2ln",
         "pyproject.toml": '[project]\nname = "pkg"\nversion = "1.0"\ndescription = "x"\n[project.urls]\nHomepage = "https://gitlab.com/g/p"\n'}
for name, text in seeds.items():
    open(os.path.join(out, name), "w").write(text)
open(os.path.join(out, "a.sig.der"), "wb").write(base64.b64decode(b["messageSignature"]["signature"]))
# A wheel with its METADATA.
w = io.BytesIO()
with zipfile.ZipFile(w, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    z.writestr("pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
    z.writestr("pkg/__init__.py", "")
open(os.path.join(out, "pkg-1.0-py3-none-any.whl"), "wb").write(w.getvalue())
# PEP 740 attestations as the Sigstore DSSE bundles they stand for.
for path in glob.glob(os.path.join(pep740, "*.attestation")):
    a = json.load(open(path))
    m = a["verification_material"]
    bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
              "verificationMaterial": {"certificate": {"rawBytes": m["certificate"]}, "tlogEntries": m["transparency_entries"]},
              "dsseEnvelope": {"payload": a["envelope"]["statement"], "payloadType": "application/vnd.in-toto+json",
                               "signatures": [{"sig": a["envelope"]["signature"]}]}}
    open(os.path.join(out, os.path.basename(path) + ".dsse.sigstore.json"), "w").write(json.dumps(bundle))
PY
"${fuzz[@]}" run parse_inputs "$corpus" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1

# PEP 740 attestations and in-toto statements (verify::pep740, verify::attestation).
corpus=corpus/parse_attestations
mkdir -p "$corpus"
cp ../tests/data/vectors/pep740/*.attestation "$corpus/"
"${fuzz[@]}" run parse_attestations "$corpus" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1
