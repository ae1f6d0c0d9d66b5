"""The one message every source sends: its complete set of desired pods (kubelet's SET).

A source never reconciles and never sends a delta: an empty `pods` means "this source wants
nothing", and the first update (even empty) marks the source as seen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from nodeagent.api.bodies import Obj


class SourceName(enum.StrEnum):
    FILE = "file"
    API = "api"
    HTTP = "http"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A manifest a source could not use, with the error a person can act on."""

    origin: str  # file path or URL
    error: str  # "FILE:LINE:COL: message" or "field.path: message" lines joined


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceUpdate:
    source: SourceName
    pods: tuple[Obj, ...]  # defaulted and validated Pods, named and uid'd as they will run
    rejected: tuple[Rejected, ...] = field(default=())
    # the ConfigMaps and Secrets manifest files carry, by file (origin): each serves its file's pods
    objects: tuple[tuple[str, tuple[Obj, ...]], ...] = field(default=())
