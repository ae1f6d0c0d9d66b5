"""How much work one piece of untrusted input may cause: the numbers, and the checks that run
before a parser does. Pure.

kube-apiserver is the model (docs/security.md, "Bounded input"):
- a request body is at most 3 MiB (apiserver `MaxRequestBodyBytes`);
- a JSON patch has at most 10,000 operations (`maxJSONPatchOperations`, added after
  CVE-2019-1002100), its `copy` operations add at most 3 MiB in all (`JSONPatchMaxCopyBytes`,
  json-patch's AccumulatedCopySizeLimit), and the patched object must still fit the body limit;
- YAML aliases may not expand a document past the budget of Kubernetes' YAML decoder
  (`allowedAliasRatio`, the fix of CVE-2019-11253);
- nesting is limited. Go's JSON decoder stops at 10,000 levels; Python recurses once per level
  with a 1,000-frame stack, so nodeagent stops at MAX_DEPTH (100), far deeper than any object
  it serves (a Pod is about 12 levels deep), and checks it on the text before decoding.
"""

from __future__ import annotations

import re
from itertools import accumulate

MAX_BODY_BYTES = 3 * 1024 * 1024
MAX_DEPTH = 100
MAX_JSON_PATCH_OPERATIONS = 10_000
MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024
MAX_MANIFEST_BYTES = 10 * 1024 * 1024  # kubelet's maxConfigLength for a manifest file or URL

# Kubernetes' YAML decoder: documents of up to 400,000 decode operations may take 99 % of
# them from alias expansion, from 4,000,000 only 10 %, scaled linearly between; a document
# of fewer than 1,000 operations or 100 alias expansions is never refused.
_ALIAS_LOW, _ALIAS_HIGH = 400_000, 4_000_000


def allowed_alias_ratio(decoded: int) -> float:
    """The share of `decoded` node decodes that may come from alias expansion."""
    if decoded <= _ALIAS_LOW:
        return 0.99
    if decoded >= _ALIAS_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_LOW) / (_ALIAS_HIGH - _ALIAS_LOW)


def excessive_aliasing(*, decoded: int, aliased: int) -> bool:
    """True once alias expansion is past the budget (checked after every node decoded)."""
    return aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded)


# Escapes go first (a backslash only occurs inside strings), then whole strings: both
# patterns are linear, also on an unterminated string, unlike one pattern with escapes in it.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*+"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def json_too_deep(data: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Whether the arrays and objects of JSON text nest more than `limit` levels, from the
    text alone: no value is built, and the cost is a few passes at C speed. Brackets inside
    an unterminated string are counted, which can only refuse text that is not JSON anyway."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few brackets to nest that deep
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw)).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def too_deep_message(limit: int = MAX_DEPTH) -> str:
    return f"the document nests more than {limit} levels deep"
