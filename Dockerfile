# The job image for gl-sign pipelines: Python (to build packages) and gl-sign.
# No cosign, twine or curl: gl-sign does their work.
#   docker build --build-arg PYTHON_VERSION=3.12 -t registry.gitlab.com/gl-sign/gl-sign:0.1.0-python3.12 .
ARG PYTHON_VERSION=3.12

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/gl-sign

FROM python:${PYTHON_VERSION}-slim-bookworm
# `gl-sign build` runs the project's own backend through PyPA's `build`.
RUN python -m pip install --no-cache-dir 'build>=1.2'
COPY --from=build /src/target/release/gl-sign /usr/local/bin/gl-sign
RUN gl-sign --version
