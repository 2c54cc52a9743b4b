"""The CRI ImageService of a node, on the local store — and what the ``oci`` runtime needs of an image.

:class:`LocalImageService` is what the node agent holds: ``pull_image``,
``image_status``, ``list_images`` and ``remove_image`` as in the CRI, plus
:meth:`~LocalImageService.unpack` (the image's read-only rootfs directory) and
:meth:`~LocalImageService.image_config` (Entrypoint, Cmd, Env…) for the
runtime that builds a container from it.

``imagePullPolicy`` is the agent's to apply; :func:`should_pull` and
:func:`default_pull_policy` say what upstream's kubelet does with it,
:func:`pull_with_secrets` pulls with a pod's imagePullSecrets, and
:func:`node_status_images` is the Node's ``status.images``.
A pull of a tag asks the registry again (the tag may have moved; blobs already
present are not fetched again); a pull of a digest that is present is a no-op.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pinnace.node.cri import ImageInfo, ImagePullError, ImageService, RegistryAuth
from pinnace.node.images.auth import CredentialError, Keyring
from pinnace.node.images.config import ImageConfig
from pinnace.node.images.reference import Reference, ReferenceError, parse_reference
from pinnace.node.images.registry import RegistryClient, RegistryError
from pinnace.node.images.store import ImageStore
from pinnace.node.images.unpack import rootfs_path, unpack, unpack_if_root

ALWAYS = "Always"
IF_NOT_PRESENT = "IfNotPresent"
NEVER = "Never"
#: How often an image in use is marked used again (the garbage collector removes the least recently used first).
TOUCH_INTERVAL = 60.0


class ImageNeverPullError(ImagePullError):
    """The image is not present and the policy is Never (the kubelet's ErrImageNeverPull)."""


def default_pull_policy(image: str) -> str:
    """Upstream's default imagePullPolicy: Always for ``:latest`` or no tag (and no digest), else IfNotPresent."""
    try:
        ref = parse_reference(image, default_tag=False)
    except ReferenceError:
        return IF_NOT_PRESENT
    return ALWAYS if not ref.digest and ref.tag in ("", "latest") else IF_NOT_PRESENT


def should_pull(policy: str, present: bool) -> bool:
    """Whether the kubelet pulls: Always pulls; IfNotPresent pulls when absent; Never never does.

    With Never and the image absent, the container cannot start: raise :class:`ImageNeverPullError`
    (reason ``ErrImageNeverPull``) rather than pulling.
    """
    if policy == ALWAYS:
        return True
    if policy == NEVER:
        return False
    return not present


async def _first_accepted(
    candidates: list[RegistryAuth | None], pull: Callable[[RegistryAuth | None], Awaitable[str]]
) -> str:
    """Try each credential until the registry accepts one; the last refusal if none is."""
    last: RegistryError | None = None
    for auth in candidates:
        try:
            return await pull(auth)
        except RegistryError as exc:
            if exc.code not in ("UNAUTHORIZED", "DENIED"):
                raise
            last = exc
    assert last is not None
    raise last


async def pull_with_secrets(
    images: ImageService, reference: str, pull_secrets: Iterable[Mapping[str, Any]] = ()
) -> str:
    """Pull with a pod's imagePullSecrets, as the kubelet does; the image ID.

    Every credential whose key matches the image is tried in turn, most specific first, then
    anonymous access; the first success wins. Works with any CRI :class:`ImageService`.
    """
    try:
        ref = parse_reference(reference)
    except ReferenceError as exc:
        raise ImagePullError(f"invalid image reference {reference!r}: {exc}") from None
    try:
        candidates: list[RegistryAuth | None] = [*Keyring.from_pull_secrets(pull_secrets).lookup(ref), None]
    except CredentialError as exc:
        raise ImagePullError(f"bad imagePullSecret: {exc}") from None
    return await _first_accepted(candidates, lambda auth: images.pull_image(reference, auth))


def node_status_images(images: Iterable[ImageInfo], limit: int = 50) -> list[dict[str, Any]]:
    """Node ``status.images``: largest first, at most ``limit`` (the kubelet's nodeStatusMaxImages, 50)."""
    ordered = sorted(images, key=lambda info: -info.size)[:limit]
    return [{"names": [*info.repo_digests, *info.repo_tags] or [info.id], "sizeBytes": info.size} for info in ordered]


class LocalImageService:
    """The node's images: the CRI ImageService over an :class:`ImageStore` and a :class:`RegistryClient`."""

    def __init__(
        self,
        root: Path | str,
        *,
        insecure_registries: Iterable[str] = (),
        ca_files: Mapping[str, str] | None = None,
        keyring: Keyring | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = ImageStore(root, clock=clock)
        self.registry = RegistryClient(self.store, insecure=insecure_registries, ca_files=ca_files)
        self.keyring = keyring or Keyring()
        self._pulls: dict[tuple[str, RegistryAuth | None], asyncio.Future[str]] = {}
        self._clock = clock
        #: Unpacks under way (concurrent container starts of a new image share one), and what is known per image.
        self._unpacking: dict[str, asyncio.Future[Path]] = {}
        self._touched: dict[str, float] = {}
        self._configs: dict[str, ImageConfig] = {}

    async def pull_image(self, reference: str, auth: RegistryAuth | None = None) -> str:
        """Pull an image; its ID. Concurrent pulls of one reference share one download.

        Without ``auth``, the node's keyring is tried (most specific first), then anonymous access.
        """
        try:
            ref = parse_reference(reference)
        except ReferenceError as exc:
            raise ImagePullError(f"invalid image reference {reference!r}: {exc}") from None
        if ref.digest:
            present = self.store.resolve(str(ref))
            if present is not None:
                return present.id
        key = (str(ref), auth)  # a pull joins only one made with the same credentials, never another pod's
        pending = self._pulls.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pulls[key] = future
        try:
            image_id = await self._pull(ref, auth)
            await asyncio.to_thread(unpack_if_root, self.store, image_id)
            future.set_result(image_id)
            return image_id
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a pull nobody else awaited does not warn
            raise
        finally:
            del self._pulls[key]

    async def _pull(self, ref: Reference, auth: RegistryAuth | None) -> str:
        candidates: list[RegistryAuth | None] = [auth] if auth is not None else [*self.keyring.lookup(ref), None]
        return await _first_accepted(candidates, lambda candidate: self.registry.pull(ref, candidate))

    async def image_status(self, reference: str) -> ImageInfo | None:
        """The image, or None when it is not present."""
        record = self.store.resolve(reference)
        return None if record is None else self.store.info(record)

    async def list_images(self) -> list[ImageInfo]:
        """Every image present."""
        return [self.store.info(record) for record in self.store.images()]

    async def remove_image(self, reference: str) -> None:
        """Remove an image with all its references (idempotent, as the CRI asks)."""
        record = self.store.resolve(reference)
        if record is not None:
            await asyncio.to_thread(self.store.remove, record.id)

    async def unpack(self, image: str) -> Path:
        """The image's unpacked rootfs (shared and read-only: overlay it or copy it, never write to it).

        Concurrent calls for an image not unpacked yet share one unpacking. The
        image is marked used (for the image garbage collector) at most every
        :data:`TOUCH_INTERVAL`, not on every container start.
        """
        record = self.store.require(image)
        target = rootfs_path(self.store, record.id)
        if not target.is_dir():
            pending = self._unpacking.get(record.id)
            if pending is None:
                pending = asyncio.ensure_future(asyncio.to_thread(unpack, self.store, record.id, touch=False))
                self._unpacking[record.id] = pending
                pending.add_done_callback(lambda _done: self._unpacking.pop(record.id, None))
            target = await asyncio.shield(pending)
        now = self._clock()
        if now - self._touched.get(record.id, float("-inf")) >= TOUCH_INTERVAL:
            await asyncio.to_thread(self.store.touch, record.id, now)
            self._touched[record.id] = now
        return target

    async def image_config(self, image: str) -> ImageConfig:
        """The image's Entrypoint, Cmd, Env, WorkingDir, User and ExposedPorts (parsed once per image ID)."""
        image_id = self.store.require(image).id
        config = self._configs.get(image_id)
        if config is None:
            config = self._configs[image_id] = ImageConfig.from_document(self.store.config(image_id))
        return config
