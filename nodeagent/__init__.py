"""nodeagent: a DaemonSet engine for fleets of Linux hosts.

`nodeagent agent` keeps a host's daemon pods running; `nodeagent server` is the
Kubernetes-shaped control plane that kubectl drives. See docs/architecture.md.
"""

__version__ = "0.1.0"
# The Kubernetes version whose API behaviour this release follows (reported by /version).
KUBERNETES_VERSION = "v1.37.0"

__all__ = ["KUBERNETES_VERSION", "__version__"]
