# The one image for every role: the Dagster code location and its run pods, the training pods
# (the TrainJob's torchrun) and the chatbot API/UI. Build with `make image` (podman or docker).
#   BASE  any Python 3.11 image (default python:3.11-slim); a plain Debian bookworm base works
#         too: its python3 is 3.11 and is installed below when the base has none.
#   LOCK  docker/requirements-cpu.lock (CPU torch, default) or docker/requirements-gpu.lock
#         (PyPI's CUDA torch, for the gpu overlay's nodes: `make image IMAGE_VARIANT=gpu`).
ARG BASE=docker.io/library/python:3.11-slim

FROM ${BASE} AS python
RUN if ! command -v python3.11 >/dev/null 2>&1; then \
        apt-get update -q \
        && apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates tzdata \
        && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    fi

# Empty unless `make image` supplies it (--build-context host-wheels=DIR): a local wheel folder,
# e.g. one holding the CPU torch wheel. Like the CA bundle (a build secret), it is mounted for
# the install only and never lands in a layer.
FROM scratch AS host-wheels

FROM python AS builder
ARG LOCK=docker/requirements-cpu.lock
# Where the CPU torch wheel comes from; empty when host-wheels holds it.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180
# The .pyc files pip writes stay: without them every process start (code location, run pod,
# each torchrun worker) compiles its imports again, 4.5 s instead of 2.4 s measured.
RUN python3.11 -m venv /opt/venv
COPY ${LOCK} /tmp/requirements.lock
# --no-deps: the lock is the whole environment, nothing resolves at build time. Then what is never
# imported at run time goes: pip itself, the packages' own test suites and torch's C++ headers
# (the image has no compiler to build extensions with).
RUN --mount=type=bind,from=host-wheels,target=/run/host-wheels \
    --mount=type=secret,id=pip-cert \
    if [ -s /run/secrets/pip-cert ]; then export PIP_CERT=/run/secrets/pip-cert; fi; \
    if ls /run/host-wheels/*.whl >/dev/null 2>&1; then export PIP_FIND_LINKS=/run/host-wheels; fi; \
    /opt/venv/bin/pip install --no-deps ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} -r /tmp/requirements.lock \
    && /opt/venv/bin/pip uninstall -y -q pip \
    && find /opt/venv/lib/python3.11/site-packages -type d -name tests -prune -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python3.11/site-packages/torch/include

FROM python AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/stock-news \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    STOCK_HOME=/mnt/storage HOME=/home/stock \
    DAGSTER_HOME=/home/stock/dagster_home
# DAGSTER_HOME: an instance for the CLI in a bare container (without one, `dagster asset
# materialize` makes a temporary one in the read-only working directory); the Helm chart sets its own.
RUN useradd --create-home --home-dir /home/stock --uid 1000 --user-group --shell /usr/sbin/nologin stock \
    && mkdir -p /mnt/storage /home/stock/dagster_home && chown stock:stock /mnt/storage /home/stock/dagster_home
COPY --from=builder /opt/venv /opt/venv
WORKDIR /opt/stock-news
COPY workspace.yaml dagster_cloud.yaml pyproject.toml ./
COPY stock_assets ./stock_assets
COPY stock_serving ./stock_serving
USER 1000:1000
EXPOSE 3030 8080 8501
# Health, per role (what the probes in k8s/ and the Helm chart run):
#   code location  dagster api grpc-health-check -p 3030
#   chatbot API    GET :8080/healthz (liveness), :8080/readyz (readiness)
#   chatbot UI     GET :8501/_stcore/health
#   run / trainer  batch pods: the exit code
CMD ["dagster", "api", "grpc", "-m", "stock_assets.definitions", "-h", "0.0.0.0", "-p", "3030"]
