r"""The MedRec service: FastAPI + onnxruntime + SQLAlchemy/alembic. Never imports torch.

Set up and serve (SQLite under ``./var`` by default; ``MEDREC_DATABASE_URL`` selects PostgreSQL)::

    medrec db upgrade
    medrec ddi load ../shared/data/ddi/atc3_ddi_twosides.csv --source twosides
    medrec models register var/artifacts/gamenet-v1 --activate
    medrec keys create --role clinician          # prints the key once
    medrec serve                                  # 127.0.0.1:8000, docs at /docs

Ask for a recommendation (the last visit is the one recommended for)::

    curl -s http://127.0.0.1:8000/v1/recommendations -H "X-API-Key: $KEY" \
      -H 'Content-Type: application/json' -d '{"visits": [
        {"diagnoses": [{"system": "icd9cm", "code": "401.9"}], "medications": ["C07AB02"]},
        {"diagnoses": [{"system": "icd9cm", "code": "428.0"}]}]}'

The same steps are plain functions in :mod:`app.admin` (``upgrade_db``, ``load_ddi_file``,
``register_model``, ``create_key``) for scripts such as a demo command.
"""
