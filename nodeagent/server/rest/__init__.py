"""The Kubernetes REST surface over the registry: handlers, discovery, tables, errors."""
