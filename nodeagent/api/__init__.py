"""Pure Kubernetes objects and rules: no I/O here (enforced by .importlinter)."""
