"""Pattern-aware ensembling of recommenders, exported and served as one ONNX artifact."""
