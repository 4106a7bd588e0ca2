"""The training process of a job, which builds the toolkit that the ``job_toolkit`` setting names.

The job runner (``app.jobs.runner``) starts ``python -m app.jobs.worker JOB_ID OWNER ATTEMPT``
with the settings as JSON on stdin, and keeps the lease alive while this process trains. This
process exits on its own when its parent dies (SIGKILL included), and every write it makes is
fenced on its lease, so an orphaned or superseded attempt can neither linger nor commit.

The toolkit (``training.jobs:Toolkit`` by default, see ``app.contract.jobs``) is imported here by
name only, so the service never imports ``training`` (or torch): a deployment without the training
extra simply runs no job worker.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import uuid

from app.contract.jobs import Toolkit
from app.jobs.pipeline import run_attempt
from app.plugins import load_entry_point

logger = logging.getLogger(__name__)


def _die_with_parent() -> None:
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)  # orphaned: the lease holder is gone; fencing covers the rest

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    """Entry point of the training process; the exit code is 0 unless something broke."""
    from app.jobs.child import run_child
    from app.settings import Settings

    _die_with_parent()
    settings = Settings(_env_file=None, **json.loads(sys.stdin.read()))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    job_id, owner, attempt = uuid.UUID(argv[0]), argv[1], int(argv[2])

    def toolkit() -> Toolkit:
        built: Toolkit = load_entry_point(settings.job_toolkit)()
        return built

    return run_child(settings, job_id, owner, attempt, toolkit, run_attempt)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
