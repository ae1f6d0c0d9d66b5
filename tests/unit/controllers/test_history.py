"""ControllerRevisions: kubectl-exact data, new revisions, reuse on rollback, dedup, prune."""

from __future__ import annotations

import copy
import json

from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.daemonset import history
from tests.unit.controllers.objects import daemonset, names, pod_for, with_image


def _stored(rev: Obj, *, uid: str) -> Obj:
    """The revision as the server would return it (round-tripped through JSON)."""
    out: Obj = json.loads(json.dumps(rev))
    out["metadata"]["uid"] = uid
    return out


def test_data_is_the_replace_patch_kubectl_compares() -> None:
    """data is {"spec":{"template":{...,"$patch":"replace"}}}, compact with sorted keys, no
    creationTimestamp null, and <>& escaped as Go does."""
    ds = daemonset()
    ds["spec"]["template"]["metadata"]["creationTimestamp"] = None
    ds["spec"]["template"]["spec"]["containers"][0]["args"] = ["a<b>&c", "ü"]
    text = history.revision_patch(ds)
    assert text.startswith('{"spec":{"template":{"$patch":"replace","metadata":{"labels"')
    assert "creationTimestamp" not in text
    assert " " not in text
    assert '"a\\u003cb\\u003e\\u0026c"' in text
    assert '"ü"' in text
    rev = history.snapshot(ds, revision=1)
    assert history.go_json(rev["data"]) == text
    assert history.matches(ds, _stored(rev, uid="r1"))


def test_first_revision() -> None:
    """A new DS gets revision 1 named <ds>-<hash>, labelled, owned, with change-cause."""
    ds = daemonset(annotations={history.CHANGE_CAUSE: "kubectl create --record"})
    result = history.construct_history(ds, [], [])
    rev = result.create
    assert rev is not None
    hash_ = history.current_hash(ds)
    assert result.hash == hash_
    assert rev["metadata"]["name"] == f"fluentd-{hash_}"
    assert rev["metadata"]["labels"] == {"name": "fluentd", "controller-revision-hash": hash_}
    assert rev["metadata"]["ownerReferences"][0]["controller"] is True
    assert rev["metadata"]["ownerReferences"][0]["uid"] == "uid-ds-fluentd"
    assert rev["metadata"]["annotations"][history.CHANGE_CAUSE] == "kubectl create --record"
    assert rev["revision"] == 1


def test_template_change_adds_next_revision_and_rollback_reuses_old() -> None:
    """v1 -> v2 makes revision 2; going back to v1 reuses revision 1's object as revision 3."""
    v1 = daemonset()
    rev1 = _stored(history.snapshot(v1, revision=1), uid="r1")
    v2 = with_image(v1, "fluentd:v2")
    step = history.construct_history(v2, [rev1], [])
    assert step.create is not None
    assert step.create["revision"] == 2
    assert names(step.old) == names([rev1])
    rev2 = _stored(step.create, uid="r2")
    back = with_image(v2, "fluentd:v1")
    undo = history.construct_history(back, [rev1, rev2], [])
    assert undo.create is None
    assert undo.current is not None
    assert undo.current["metadata"]["name"] == rev1["metadata"]["name"]
    assert undo.set_revision == 3
    assert undo.hash == history.current_hash(v1)
    again = copy.deepcopy(rev1)
    again["revision"] = 3
    steady = history.construct_history(back, [again, rev2], [])
    assert steady.set_revision is None
    assert steady.create is None


def test_duplicate_revisions_are_deduplicated() -> None:
    """Two revisions with the current template: keep the highest, relabel pods, drop the rest."""
    ds = daemonset()
    keep = _stored(history.snapshot(ds, revision=4), uid="keep")
    dup = _stored(history.snapshot(ds, revision=2), uid="dup")
    dup["metadata"]["name"] = "fluentd-other"
    dup["metadata"]["labels"]["controller-revision-hash"] = "other"
    pod = pod_for(ds, "a", hash_="other")
    result = history.construct_history(ds, [dup, keep], [pod])
    assert result.current is keep
    assert names(result.duplicates) == ["fluentd-other"]
    assert names(result.relabel) == names([pod])


def test_prune_to_history_limit_keeps_revisions_in_use() -> None:
    """Old revisions beyond revisionHistoryLimit go oldest first, but never one a live pod uses."""
    ds = daemonset(history_limit=2)
    olds = []
    for i in range(1, 5):
        rev = _stored(history.snapshot(with_image(ds, f"img:{i}"), revision=i), uid=f"r{i}")
        olds.append(rev)
    in_use = olds[0]["metadata"]["labels"]["controller-revision-hash"]
    live = pod_for(ds, "a", hash_=in_use)
    pruned = history.history_to_prune(ds, olds, [live])
    assert names(pruned) == names(olds[1:3])
    assert history.history_to_prune(daemonset(), olds, []) == []  # default limit 10


def test_claims_orphaned_revisions_matching_selector() -> None:
    """A revision without a controller that matches the selector is adoptable; another
    controller's revision is not ours."""
    ds = daemonset()
    orphan = _stored(history.snapshot(ds, revision=1), uid="o")
    orphan["metadata"]["ownerReferences"] = []
    theirs = _stored(history.snapshot(ds, revision=1), uid="t")
    theirs["metadata"]["ownerReferences"][0]["uid"] = "other-ds"
    ours, orphans = history.controlled_revisions(ds, [orphan, theirs])
    assert ours == []
    assert orphans == [orphan]
