# syntax=docker/dockerfile:1
# MedRec serving image: FastAPI + onnxruntime + SQLAlchemy. No torch and no training code
# (docs/architecture.md: the serving process stays torch-free), runs as a non-root user.
# .ci/serve-env runs the same install and command sequence in a venv (no Docker engine in CI).
#
#   docker build -f docker/serve.Dockerfile -t medrec-serve .
#   docker run -p 8000:8000 -v medrec-var:/srv/var medrec-serve
#
# Upstream references:
# - Python images: https://hub.docker.com/_/python ("How to use this image")
# - Layer caching, dependencies before sources:
#   https://docs.docker.com/build/cache/optimize/#order-your-layers
# - Non-root USER: https://docs.docker.com/build/building/best-practices/#user
# - Running uvicorn with workers: https://www.uvicorn.org/deployment/
# - Migrations at container start: https://alembic.sqlalchemy.org/en/latest/tutorial.html
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEDREC_HOME=/srv/var \
    MEDREC_HOST=0.0.0.0 \
    MEDREC_WORKERS=2 \
    MEDREC_EMBEDDED_WORKER=false

WORKDIR /srv

# 1. The serving dependencies only ([project].dependencies, no extras), in their own layer, so
#    a source change does not reinstall them. There is no lock file yet: pin via a constraints
#    file here once the project has one (pip install -c constraints.txt).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 2. The service's sources only: without training/ and models/, `pip install .` installs app and
#    migrations, and the training commands answer that they need the training extra.
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin medrec \
    && mkdir -p /srv/var \
    && chown medrec /srv/var \
    && python -c "import importlib.util as u; assert not any(map(u.find_spec, ('torch', 'training', 'models'))), 'training stack in the serve image'"

USER 10001
VOLUME ["/srv/var"]
EXPOSE 8000

# Liveness through the constant endpoint (no curl in the slim image).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"

# Apply migrations (the app never calls create_all), then serve the registered models.
CMD ["sh", "-c", "medrec db upgrade && exec uvicorn --factory app.main:asgi --host \"$MEDREC_HOST\" --port 8000 --workers \"$MEDREC_WORKERS\" --no-access-log"]
