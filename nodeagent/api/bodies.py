"""The one name for a Kubernetes object as this code holds it: its JSON body as a dict.

Every module takes and returns objects as `Obj` (kopf's bodies.py is the model): one
definition here, so a reader meets one type, not a local alias per module. The accessors
over it (name_of, labels_of, conditions) are in api/meta.py.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
