# syntax=docker/dockerfile:1
# MedRec training image: torch (CPU build), torch-geometric and the whole `medrec` CLI; runs
# `medrec worker` (training jobs) by default. Non-root.
#
#   docker build -f docker/train.Dockerfile -t medrec-train .
#   docker run -v medrec-var:/var/lib/medrec medrec-train                  # the job worker
#   docker run -v "$PWD/var:/work/var" medrec-train medrec synth --patients 1000 --out /work/var/synth
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
    MEDREC_HOME=/var/lib/medrec \
    OMP_NUM_THREADS=4

WORKDIR /work

# 1. The locked base + train dependencies (docker/requirements/train.txt, pip-compile with the
#    train extra). torch is pinned there as 2.13.0+cpu, a wheel of the PyTorch CPU index; the
#    default index would pull a multi-GB CUDA build.
COPY docker/requirements/train.txt /tmp/train.txt
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/train.txt \
    && rm /tmp/train.txt

# 2. The sources.
COPY pyproject.toml README.md ./
COPY app ./app
COPY models ./models
COPY training ./training
COPY migrations ./migrations
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /work --shell /usr/sbin/nologin medrec \
    && mkdir -p /var/lib/medrec \
    && chown medrec /var/lib/medrec

USER 10001
VOLUME ["/var/lib/medrec"]
CMD ["medrec", "worker"]
