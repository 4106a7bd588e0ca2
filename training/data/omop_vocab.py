"""OMOP standardized vocabulary lookups: ICD codes of source concepts, ATC3 classes of drugs.

- Conditions and procedures: the ``*_source_concept_id`` concept, when its ``vocabulary_id`` is
  ICD9CM, ICD10CM, ICD9Proc or ICD10PCS, gives the code and its system. Otherwise the standard
  ``*_concept_id`` concept is kept natively, its system being its vocabulary in lower case
  (``snomed``), and counted as not mapped to ICD.
- Drugs (RxNorm → ATC): ATC concepts reached from ``drug_concept_id`` in one step of
  ``concept_relationship`` ('Maps to', 'RxNorm - ATC*') or through ``concept_ancestor`` when given;
  failing that, in two steps through the ingredient ('RxNorm has ing', 'Has ingredient').
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from training.data.ehr_io import ATC_PATTERN, find_table, read_table

ICD_VOCABULARIES = {
    "ICD9CM": "icd9cm",
    "ICD10CM": "icd10cm",
    "ICD9Proc": "icd9proc",
    "ICD10PCS": "icd10pcs",
}
DRUG_STEPS = ("Maps to", "RxNorm has ing", "Has ingredient")


class OmopVocabulary:
    """The ``concept`` table (and the relationship tables, when present) of an OMOP export."""

    def __init__(self, directory: Path, concept: Path) -> None:
        """Read ``concept`` and, when found in ``directory``, the relationship tables."""
        self.concepts = read_table(concept, ["concept_id", "concept_code", "vocabulary_id"]).select(
            pl.col("concept_id").str.strip_chars(), "concept_code", "vocabulary_id"
        )
        rel_path = find_table(directory, "concept_relationship")
        self.relationships: pl.DataFrame | None = None
        if rel_path is not None:
            rel = read_table(
                rel_path,
                ["concept_id_1", "concept_id_2", "relationship_id"],
                ["invalid_reason"],
                allow_empty=True,
            )
            self.relationships = rel.filter(
                pl.col("invalid_reason").is_null() | (pl.col("invalid_reason") == "")
            ).select(
                pl.col("concept_id_1").str.strip_chars().alias("from_id"),
                pl.col("concept_id_2").str.strip_chars().alias("to_id"),
                "relationship_id",
            )
        anc_path = find_table(directory, "concept_ancestor")
        self.ancestors: pl.DataFrame | None = None
        if anc_path is not None:
            anc = read_table(
                anc_path, ["ancestor_concept_id", "descendant_concept_id"], allow_empty=True
            )
            self.ancestors = anc.select(
                pl.col("descendant_concept_id").str.strip_chars().alias("from_id"),
                pl.col("ancestor_concept_id").str.strip_chars().alias("to_id"),
            )

    def code_events(self, events: pl.DataFrame) -> pl.DataFrame:
        """Add ``system`` and ``code`` to events with ``source_concept_id`` and ``concept_id``.

        ICD source concepts give ICD codes; otherwise the standard concept is kept natively and
        ``is_native`` is true; rows with no known concept get null codes.
        """
        concepts = self.concepts
        src = concepts.rename(
            {
                "concept_id": "source_concept_id",
                "concept_code": "src_code",
                "vocabulary_id": "src_vocab",
            }
        )
        std = concepts.rename(
            {"concept_id": "concept_id", "concept_code": "std_code", "vocabulary_id": "std_vocab"}
        )
        joined = events.join(src, on="source_concept_id", how="left").join(
            std, on="concept_id", how="left"
        )
        icd_system = pl.col("src_vocab").replace_strict(ICD_VOCABULARIES, default=None)
        icd_code = pl.col("src_code").str.replace_all(".", "", literal=True).str.to_uppercase()
        return joined.with_columns(
            pl.coalesce(icd_system, pl.col("std_vocab").str.to_lowercase()).alias("system"),
            pl.when(icd_system.is_not_null())
            .then(icd_code)
            .otherwise(pl.col("std_code"))
            .alias("code"),
            (icd_system.is_null() & pl.col("std_code").is_not_null()).alias("is_native"),
        ).drop("src_code", "src_vocab", "std_code", "std_vocab")

    def drug_atc3(self, drug_ids: pl.Series) -> dict[str, tuple[str, ...]]:
        """Map each drug concept id to the ATC3 classes the vocabulary links it to."""
        atc = self.concepts.filter(
            (pl.col("vocabulary_id") == "ATC") & pl.col("concept_code").str.contains(ATC_PATTERN)
        ).select(
            pl.col("concept_id").alias("to_id"),
            pl.col("concept_code").str.slice(0, 4).alias("atc3"),
        )
        drugs = pl.DataFrame({"from_id": drug_ids.unique().drop_nulls()})
        hits = [drugs.join(atc.rename({"to_id": "from_id"}), on="from_id")]
        if self.relationships is not None:
            hits.append(self._atc_step(drugs, atc))
        if self.ancestors is not None:
            hits.append(drugs.join(self.ancestors, on="from_id").join(atc, on="to_id"))
        found = pl.concat([h.select("from_id", "atc3") for h in hits])
        if self.relationships is not None:
            rest = drugs.join(found, on="from_id", how="anti")
            steps = self.relationships.filter(pl.col("relationship_id").is_in(DRUG_STEPS))
            mid = rest.join(steps, on="from_id").select(
                pl.col("from_id").alias("drug_id"), pl.col("to_id").alias("from_id")
            )
            second = self._atc_step(mid, atc, keep="drug_id")
            found = pl.concat([found, second.select(pl.col("drug_id").alias("from_id"), "atc3")])
        grouped = found.unique().group_by("from_id").agg(pl.col("atc3").sort())
        return {k: tuple(v) for k, v in grouped.iter_rows()}

    def _atc_step(
        self, frame: pl.DataFrame, atc: pl.DataFrame, *, keep: str = "from_id"
    ) -> pl.DataFrame:
        assert self.relationships is not None
        rel_id = pl.col("relationship_id")
        steps = self.relationships.filter(
            (rel_id == "Maps to") | rel_id.str.starts_with("RxNorm - ATC")
        )
        return frame.join(steps, on="from_id").join(atc, on="to_id").select(keep, "atc3")
