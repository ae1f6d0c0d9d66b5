"""The control plane: store, Kubernetes-shaped REST, controllers, authentication."""
