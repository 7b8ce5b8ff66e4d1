"""A run's results, for the server extension and the kernel alike: the one results
document (from a stack's artifact API, or from ML Metadata and object storage on a cluster)
and an artifact's bytes."""
