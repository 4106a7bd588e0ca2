# syntax=docker/dockerfile:1
# MedRec serving image: FastAPI + onnxruntime + SQLAlchemy. No torch and no training code
# (docs/architecture.md: the serving process stays torch-free); runs as a non-root user. The
# embedded job worker is off: training jobs run in the train image's `medrec worker`.
# .ci/serve-env runs the same install and command sequence in a venv (CI has no Docker engine).
#
#   docker build -f docker/serve.Dockerfile -t medrec-serve .
#   docker run --rm -v medrec-var:/var/lib/medrec medrec-serve medrec db upgrade   # once per database
#   docker run -p 8000:8000 -v medrec-var:/var/lib/medrec medrec-serve
#
# Upstream references:
# - Python images: https://hub.docker.com/_/python ("How to use this image")
# - Multi-stage builds: https://docs.docker.com/build/building/multi-stage/
# - Layer caching, dependencies before sources:
#   https://docs.docker.com/build/cache/optimize/#order-your-layers
# - Non-root USER: https://docs.docker.com/build/building/best-practices/#user
# - HEALTHCHECK: https://docs.docker.com/reference/dockerfile/#healthcheck
# - Running uvicorn with workers: https://www.uvicorn.org/deployment/

# --- build: a virtual environment from the lock file, then the service's own package --------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/medrec
# 1. The locked serving dependencies (docker/requirements/serve.txt, pip-compile of the base
#    install) in their own layer, so a source change does not reinstall them.
COPY docker/requirements/serve.txt /tmp/serve.txt
RUN /opt/medrec/bin/pip install -r /tmp/serve.txt
# 2. The service's sources only: without training/ and models/, `pip install .` installs app and
#    migrations, and the training commands answer that they need the training extra.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
RUN /opt/medrec/bin/pip install --no-deps . \
    && /opt/medrec/bin/python -c "import importlib.util as u; assert not any(map(u.find_spec, ('torch', 'training', 'models'))), 'training stack in the serve image'"

# --- runtime: the venv on a clean slim image, non-root ---------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/medrec/bin:$PATH \
    MEDREC_HOME=/var/lib/medrec \
    MEDREC_HOST=0.0.0.0 \
    MEDREC_PORT=8000 \
    MEDREC_WORKERS=2 \
    MEDREC_EMBEDDED_WORKER=false
COPY --from=build /opt/medrec /opt/medrec
RUN useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin medrec \
    && mkdir -p /var/lib/medrec \
    && chown medrec /var/lib/medrec
WORKDIR /srv
USER 10001
# MEDREC_HOME: the SQLite database (when used), artifacts and uploads.
VOLUME ["/var/lib/medrec"]
EXPOSE 8000

# Liveness through the constant endpoint (no curl in the slim image).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"

# Serve only: migrations run once per database (`medrec db upgrade`, the compose `migrate`
# service), not at every replica's start.
CMD ["medrec", "serve", "--no-migrate"]
