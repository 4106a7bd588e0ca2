"""One footing for every recommender: the same test patients, the same metric code, one report."""
