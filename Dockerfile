# syntax=docker/dockerfile:1.7
#
# drkit's image: the drkit CLI/daemon on Python 3.11 plus etcdutl (etcd snapshot restore), running as
# uid/gid 65532 with no shell and no package manager. Build, pin and scan it as docs/deploy.md says:
#
#   docker build -t drkit:dev .
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest> \
#                --build-arg GO_IMAGE=golang:1.26-bookworm@sha256:<digest> \
#                --build-arg RUST_IMAGE=rust:1.95-slim-bookworm@sha256:<digest> -t drkit:1.2.3 .
#
# Base images are pinned by version; for a release, pin them by digest with the build arguments above.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG GO_IMAGE=golang:1.26-bookworm
# The Rust toolchain for drkit/native/seal (build stage only; Debian's cargo is too old for its lock file)
ARG RUST_IMAGE=rust:1.95-slim-bookworm
# Keep in step with hack/testbin/versions.env (ETCD_VERSION), the etcd the tests run against.
ARG ETCD_VERSION=v3.6.16

# --- etcdutl, built from the pinned Go module (its go.mod has replace directives: build it from a
#     wrapper module, as hack/testbin/build.sh does) ------------------------------------------------
FROM ${GO_IMAGE} AS etcdutl
ARG ETCD_VERSION
ENV CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath" GOTOOLCHAIN=local
WORKDIR /src
RUN printf 'module drkit.local/image/etcdutl\n\ngo 1.26.0\n' > go.mod \
 && go get "go.etcd.io/etcd/etcdutl/v3@${ETCD_VERSION}" \
 && go build -ldflags "-s -w" -o /out/etcdutl go.etcd.io/etcd/etcdutl/v3 \
 && /out/etcdutl version

# --- the Rust toolchain, copied into the build stage ------------------------------------------------
FROM ${RUST_IMAGE} AS rust

# --- the wheel and its dependencies, in a virtual environment ----------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# A C compiler and Rust for drkit's extension modules (drkit/native/, setup.py): only in this stage.
# cargo fetches the crates drkit/native/seal/Cargo.lock pins from crates.io.
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
RUN apt-get update \
 && apt-get install --yes --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && cargo --version
COPY pyproject.toml setup.py README.md ./
COPY drkit ./drkit
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/drkit \
 && /opt/drkit/bin/pip install /wheels/drkit-*.whl \
 && /opt/drkit/bin/pip uninstall --yes pip setuptools wheel \
 && /opt/drkit/bin/drkit --version

# --- the runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG ETCD_VERSION
LABEL org.opencontainers.image.title="drkit" \
      org.opencontainers.image.description="Encrypted, immutable, verified Kubernetes backups and rehearsed restores" \
      org.opencontainers.image.source="https://github.com/drkit/drkit" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.drkit.etcd-version="${ETCD_VERSION}"
COPY --from=build /opt/drkit /opt/drkit
COPY --from=etcdutl /out/etcdutl /usr/local/bin/etcdutl
# The last RUN: an unprivileged user and writable places (emptyDirs in Kubernetes), then remove what
# an attacker in the container would want and drkit never runs: pip, the package managers, shells
# and setuid bits. /var/lib/dpkg/status stays: image scanners read it to know the OS packages.
# /bin/sh runs this very command and goes last.
RUN groupadd --gid 65532 drkit \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin drkit \
 && mkdir -p /var/cache/drkit /etc/drkit \
 && chown 65532:65532 /var/cache/drkit \
 && /opt/drkit/bin/drkit --version && /usr/local/bin/etcdutl version \
 && (python -m pip uninstall --yes pip setuptools wheel || true) \
 && rm -rf /usr/local/bin/pip* /usr/local/bin/idle* /usr/local/bin/pydoc* /usr/local/bin/2to3* \
           /var/lib/apt/lists /var/cache/apt /var/cache/debconf /var/log/* \
           /usr/bin/apt* /usr/bin/dpkg* /usr/sbin/dpkg* /usr/bin/perl* /usr/share/perl* \
           /usr/bin/su /usr/bin/passwd /usr/bin/chsh /usr/bin/chfn /usr/bin/newgrp /usr/bin/gpasswd \
           /usr/bin/mount /usr/bin/umount /usr/bin/wall \
 && find / -xdev -perm /6000 -type f -exec chmod a-s {} + \
 && rm -f /bin/bash /usr/bin/bash /bin/rbash /usr/bin/rbash /bin/dash /usr/bin/dash /bin/sh /usr/bin/sh
ENV PATH=/opt/drkit/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/var/cache/drkit
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["drkit"]
CMD ["--help"]
