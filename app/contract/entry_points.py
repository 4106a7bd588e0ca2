"""Where the service finds the training side: entry points named as strings, loaded on use.

``app`` never imports ``training`` (import-linter checks it); it loads these by name, in the
``medrec`` command line and in a training job's own process, so a serving install without the
training extra still runs and says what is missing. ``docs/architecture.md`` draws the seam.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRAINING_CLI = "training.cli:register"  # register(cli, train): adds the training commands
DEMO_BUILDER = "training.demo:build_demo"  # build_demo(work_dir, artifacts_dir, **sizes)
JOB_TOOLKIT = "training.jobs:Toolkit"  # the default of the job_toolkit setting
# the top-level training commands
TRAINING_COMMANDS = ("synth", "ingest", "data", "export", "evaluate", "genn")
TRAIN_EXTRA = "pip install 'medrec[train]'"


@dataclass(frozen=True)
class DemoBuild:
    """What ``DEMO_BUILDER`` returns: the synthetic DDI table and the exported artifacts."""

    ddi_csv: Path
    artifacts: tuple[Path, ...]
