"""When the agent asks for its next serving certificate: kubelet's jittered 70-90 %."""

from __future__ import annotations

import pytest

from nodeagent.agent import pki


@pytest.mark.parametrize(
    ("jitter", "at"), [(0.0, 1070.0), (0.5, 1080.0), (0.999, 1089.98)], ids=["70", "80", "90"]
)
def test_rotation_deadline_is_70_to_90_percent_of_the_life(jitter: float, at: float) -> None:
    deadline = pki.rotation_deadline(not_before=1000.0, not_after=1100.0, jitter=jitter)
    assert deadline == pytest.approx(at)
