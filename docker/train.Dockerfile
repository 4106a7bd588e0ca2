# syntax=docker/dockerfile:1
# MedRec training image: torch (CPU build), torch-geometric, the `medrec` CLI. Non-root.
#
#   docker build -f docker/train.Dockerfile -t medrec-train .
#   docker run -v "$PWD/var:/work/var" medrec-train synth --patients 1000 --out var/synthetic
#
# Upstream references:
# - Python images: https://hub.docker.com/_/python
# - PyTorch CPU wheels from the PyTorch index: https://pytorch.org/get-started/locally/
# - torch-geometric installation: https://pytorch-geometric.readthedocs.io/en/latest/install/installation.html
# - Layer caching: https://docs.docker.com/build/cache/optimize/#order-your-layers
# - Non-root USER: https://docs.docker.com/build/building/best-practices/#user
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEDREC_HOME=/work/var \
    OMP_NUM_THREADS=4

WORKDIR /work

# 1. torch from the CPU index first (the default index pulls a multi-GB CUDA build), pinned as in
#    pyproject.toml; then the base and train dependencies, in their own layer.
COPY pyproject.toml README.md ./
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['train']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 2. The sources.
COPY app ./app
COPY models ./models
COPY training ./training
COPY migrations ./migrations
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /work --shell /usr/sbin/nologin medrec \
    && mkdir -p /work/var \
    && chown medrec /work/var

USER 10001
VOLUME ["/work/var"]
ENTRYPOINT ["medrec"]
CMD ["--help"]
