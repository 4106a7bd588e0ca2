"""Emit canonical Patients in EHR export formats (MIMIC-IV, OMOP CDM, Synthea, FHIR NDJSON, MEDS).

They exist so that every reader has a round-trip test at scale: generate → write → read → same
patients. Drug codes are made up (one NDC / RxCUI per ATC3 class) and written with the mapping CSV
that turns them back into ATC3.
"""
