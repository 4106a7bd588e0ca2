"""Training, evaluation and export of GAMENet (``medrec train gamenet``, ``medrec export``)."""
