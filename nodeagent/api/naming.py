"""Object names the system makes up: static pod names and generateName suffixes. Pure."""

from __future__ import annotations

# k8s.io/apimachinery/pkg/util/rand: no vowels (no words), no 0/1/3 (confusable).
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
SUFFIX_LENGTH = 5


def static_pod_name(name: str, node: str) -> str:
    """The name a static pod runs under: the manifest's name, "-", the node's name."""
    return f"{name}-{node}"


def generate_name_suffix(random_bytes: bytes) -> str:
    """Five characters from k8s's alphabet, drawn from the caller's random bytes."""
    if len(random_bytes) < SUFFIX_LENGTH:
        raise ValueError(f"need at least {SUFFIX_LENGTH} random bytes, got {len(random_bytes)}")
    return "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in random_bytes[:SUFFIX_LENGTH])


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: map each byte into the alphabet (used for hashes)."""
    return "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in text.encode())
