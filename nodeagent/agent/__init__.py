"""The node agent: sources of desired pods, reconcile, probes, node conditions, status reporting."""
