#!/usr/bin/env bash
# Fuzz every parser of untrusted input, seeded with the real vectors in each
# form users have (Sigstore bundles, cosign bundle, .sig, .crt as PEM and
# base64). Usage: fuzz/run.sh [SECONDS]   (needs the nightly toolchain and cargo-fuzz)
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
corpus=corpus/parse_inputs
mkdir -p "$corpus"
cp ../tests/data/vectors/bundles/*.json "$corpus/"
python3 - "$corpus" <<'PY'
import base64, json, sys, os
out = sys.argv[1]
b = json.load(open("../tests/data/vectors/bundles/conf-happy-path-v0.3.sigstore.json"))
der = base64.b64decode(b["verificationMaterial"]["certificate"]["rawBytes"])
body = base64.b64encode(der).decode()
pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(body[i:i+64] for i in range(0, len(body), 64)) + "\n-----END CERTIFICATE-----\n"
e = b["verificationMaterial"]["tlogEntries"][0]
cosign = {"base64Signature": b["messageSignature"]["signature"], "cert": base64.b64encode(pem.encode()).decode(),
          "rekorBundle": {"SignedEntryTimestamp": e["inclusionPromise"]["signedEntryTimestamp"],
                          "Payload": {"body": e["canonicalizedBody"], "integratedTime": int(e["integratedTime"]),
                                      "logIndex": int(e["logIndex"]), "logID": base64.b64decode(e["logId"]["keyId"]).hex()}}}
seeds = {"cosign.bundle": json.dumps(cosign), "a.crt.pem": pem, "a.crt.b64": base64.b64encode(pem.encode()).decode(),
         "a.sig": b["messageSignature"]["signature"], "a.sig.nl": b["messageSignature"]["signature"] + "\n"}
for name, text in seeds.items():
    open(os.path.join(out, name), "w").write(text)
open(os.path.join(out, "a.sig.der"), "wb").write(base64.b64decode(b["messageSignature"]["signature"]))
PY
cargo +nightly fuzz run parse_inputs "$corpus" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048

# PEP 740 attestations and in-toto statements (verify::pep740, verify::attestation).
corpus=corpus/parse_attestations
mkdir -p "$corpus"
cp ../tests/data/vectors/pep740/*.attestation "$corpus/"
cargo +nightly fuzz run parse_attestations "$corpus" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048
