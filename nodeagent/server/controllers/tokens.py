"""The tokens controller: a Secret of type `kubernetes.io/service-account-token` that names a
ServiceAccount (annotation `kubernetes.io/service-account.name`) gets a token of that
ServiceAccount, `ca.crt` and `namespace`, as kube-controller-manager's tokens controller fills
the long-lived token Secrets users create by hand (pkg/controller/serviceaccount/
tokens_controller.go; none are made automatically, as in Kubernetes since 1.24).

A Secret added or changed, or a ServiceAccount added, queues the Secrets concerned; the sync
fills what is missing (`needs_filling`, `filled`: PURE) and records the ServiceAccount's uid
in the annotation `kubernetes.io/service-account.uid`. A token already there is kept. The
token is bound to the Secret (server/satokens.py): it stops working when the Secret or the
ServiceAccount is deleted. A Secret whose ServiceAccount does not exist (or has another uid
than its annotation says) is left as it is; kube-controller-manager deletes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import Conflict, NotFound
from nodeagent.server.controllers.queuemetrics import MetricsProvider
from nodeagent.server.controllers.workqueue import (
    Informer,
    WorkQueue,
    process_forever,
    report_unfinished_work,
)
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()
QUEUE_NAME = "serviceaccount_tokens_secret"  # kube-controller-manager's secret queue's name
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
ACCOUNT_NAME_KEY = "kubernetes.io/service-account.name"
ACCOUNT_UID_KEY = "kubernetes.io/service-account.uid"

# (ServiceAccount, Secret) -> a signed token of the account bound to the secret
IssueToken = Callable[[Obj, Obj], str]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def account_name(secret: Obj) -> str:
    """The ServiceAccount a token Secret names ("" when it is no token Secret)."""
    if secret.get("type") != TOKEN_SECRET_TYPE:
        return ""
    return str(meta.annotations_of(secret).get(ACCOUNT_NAME_KEY) or "")


def needs_filling(secret: Obj, account: Obj | None, ca_pem: str) -> bool:
    """PURE. Whether the token Secret lacks its token, ca.crt, namespace or uid annotation,
    for `account` (None: not found, then nothing is done)."""
    if (
        account is None
        or not account_name(secret)
        or meta.metadata_of(secret).get("deletionTimestamp")
    ):
        return False
    wanted_uid = meta.annotations_of(secret).get(ACCOUNT_UID_KEY)
    if wanted_uid and wanted_uid != meta.uid_of(account):
        return False
    data = secret.get("data") or {}
    return (
        not data.get("token")
        or (bool(ca_pem) and data.get("ca.crt") != _b64(ca_pem))
        or data.get("namespace") != _b64(meta.namespace_of(secret))
        or wanted_uid != meta.uid_of(account)
    )


def filled(secret: Obj, account: Obj, ca_pem: str, token: Callable[[], str]) -> Obj:
    """PURE but for `token` (called only when the Secret has none): the Secret with its token,
    ca.crt (when there is a CA), namespace and the ServiceAccount's uid annotation."""
    data = dict(secret.get("data") or {})
    if not data.get("token"):
        data["token"] = _b64(token())
    if ca_pem:
        data["ca.crt"] = _b64(ca_pem)
    data["namespace"] = _b64(meta.namespace_of(secret))
    metadata = dict(secret.get("metadata") or {})
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        ACCOUNT_UID_KEY: meta.uid_of(account),
    }
    return {**secret, "metadata": metadata, "data": data}


@dataclass(slots=True, kw_only=True)
class TokensController:
    registry: Registry
    issue_token: IssueToken
    ca_pem: str = ""
    queue_metrics: MetricsProvider | None = None
    secrets: Informer = field(init=False)
    accounts: Informer = field(init=False)
    queue: WorkQueue[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.secrets = Informer(registry=self.registry, resource="secrets")
        self.accounts = Informer(registry=self.registry, resource="serviceaccounts")
        self.queue = WorkQueue(name=QUEUE_NAME, metrics=self.queue_metrics)

    async def run(self) -> None:
        def secret_changed(_old: Obj | None, new: Obj | None) -> None:
            if new is not None and account_name(new):
                self.queue.add((meta.namespace_of(new), meta.name_of(new)))

        def account_changed(_old: Obj | None, new: Obj | None) -> None:
            if new is None:
                return
            namespace, name = meta.namespace_of(new), meta.name_of(new)
            for secret in self.secrets.list(namespace):
                if account_name(secret) == name:
                    self.queue.add((namespace, meta.name_of(secret)))

        self.secrets.add_handler(secret_changed)
        self.accounts.add_handler(account_changed)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(report_unfinished_work(self.queue), name="tokens-queue-metrics")
            tg.create_task(self.secrets.run(), name="tokens-secrets-informer")
            tg.create_task(self.accounts.run(), name="tokens-accounts-informer")
            await self.secrets.synced.wait()
            await self.accounts.synced.wait()
            tg.create_task(
                process_forever(self.queue, self.sync, retry="token_secret_sync_retry"),
                name="tokens-worker",
            )

    async def sync(self, key: tuple[str, str]) -> None:
        namespace, name = key
        secret = self.secrets.get(namespace, name)
        if secret is None:
            return
        account = self.accounts.get(namespace, account_name(secret))
        if account is None or not needs_filling(secret, account, self.ca_pem):
            return
        wanted = filled(secret, account, self.ca_pem, lambda: self.issue_token(account, secret))
        with contextlib.suppress(NotFound, Conflict):  # gone, or changed: queued again
            await self.registry.update("secrets", wanted)
            log.info("service_account_token_filled", namespace=namespace, secret=name)
