r"""Training jobs: retrain from an EHR export through the API or ``medrec train --from``.

Flow (one attempt; a job may take several when workers die)::

    POST /v1/training-jobs            submit.py    stage the upload safely (uploads.py), queue a row
    worker loop (runner.py)           crud/job_queue.py  claim with a lease; heartbeat; fences
      └─ python -m app.jobs.worker    worker.py    builds the toolkit named by ``job_toolkit``
           pipeline.py: ingest → train → export → compare (evaluation.py) → gate (gate.py)
                        → one fenced commit: job succeeded + candidate version registered
                        → promotion.py: activate if the gate allows, audited

Example::

    curl -H "X-API-Key: $ADMIN" -F format=mimic3 -F epochs=5 -F file=@export.zip \
        http://127.0.0.1:8000/v1/training-jobs
    curl -H "X-API-Key: $ADMIN" http://127.0.0.1:8000/v1/training-jobs/$JOB_ID
"""
