"""Sources of desired pods (file, apiserver, url). Each sends full snapshots into one queue."""
