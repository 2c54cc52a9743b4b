"""etcd cluster membership: list, add and remove members (etcd's Cluster service, what ``etcdctl member`` does).

kubeadm's stacked topology grows the etcd cluster one control-plane node at a
time: ``adm join --control-plane`` adds the new node's member as a learner
(MemberAdd with its peer URL; a learner does not count in the quorum, so a
member that never starts does not stop the cluster), starts it with
``--initial-cluster-state=existing``, and promotes it to a voting member once
it has caught up (MemberPromote; kubeadm's EtcdLearnerMode). ``adm reset``
removes it again (MemberRemove). This module makes those calls
over the same transport as the store (:class:`~pinnace.storage.etcd_channel.Members`:
one gRPC channel per endpoint, TLS with client certificates, failover to the
next endpoint while one is unavailable).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio

from pinnace.storage.etcd_channel import EtcdTLS, Members, serialize
from pinnace.storage.etcdpb import cluster_pb2

__all__ = ["EtcdCluster", "EtcdMember"]

_Resp = TypeVar("_Resp")
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True, slots=True)
class EtcdMember:
    """One member as the cluster knows it (a member added but not yet started has no name and no client URLs)."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool = False

    @classmethod
    def from_pb(cls, member: Any) -> EtcdMember:
        """From an ``etcdserverpb.Member`` message."""
        return cls(member.ID, member.name, tuple(member.peerURLs), tuple(member.clientURLs), member.isLearner)


class EtcdCluster:
    """The membership API of the etcd cluster reached through ``endpoints``."""

    def __init__(
        self, endpoints: Sequence[str], *, tls: EtcdTLS | None = None, request_timeout: float = 5.0,
        retry_timeout: float = 15.0,
    ) -> None:  # fmt: skip
        self._members = Members(endpoints, tls)
        self._request_timeout = request_timeout
        self._retry_timeout = retry_timeout

    async def _call(self, method: str, request: Any, response_type: Callable[[bytes], _Resp]) -> _Resp:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_timeout
        while True:
            channel = self._members.channel()
            rpc = channel.unary_unary(
                f"/etcdserverpb.Cluster/{method}", request_serializer=serialize, response_deserializer=response_type
            )
            try:
                response: _Resp = await rpc(request, timeout=self._request_timeout)
                return response
            except grpc.aio.AioRpcError as e:
                if e.code() not in _RETRYABLE or loop.time() >= deadline:
                    raise RuntimeError(f"etcd {method}: {e.code().name}: {e.details()}") from None
                self._members.fail_over(channel)
            await asyncio.sleep(0.1)

    async def members(self) -> list[EtcdMember]:
        """Every member (a linearizable read: the current membership, not a member's possibly stale view)."""
        request = cluster_pb2.MemberListRequest(linearizable=True)
        response = await self._call("MemberList", request, cluster_pb2.MemberListResponse.FromString)
        return [EtcdMember.from_pb(m) for m in response.members]

    async def add(self, peer_urls: Sequence[str], *, learner: bool = False) -> tuple[EtcdMember, list[EtcdMember]]:
        """Add a member with these peer URLs (a non-voting learner if asked); the new member and the membership.

        The new member must then start with ``--initial-cluster`` naming every member and
        ``--initial-cluster-state existing``; until it does, a voting member counts in the quorum (a learner not).
        """
        request = cluster_pb2.MemberAddRequest(peerURLs=list(peer_urls), isLearner=learner)
        response = await self._call("MemberAdd", request, cluster_pb2.MemberAddResponse.FromString)
        return EtcdMember.from_pb(response.member), [EtcdMember.from_pb(m) for m in response.members]

    async def remove(self, member_id: int) -> list[EtcdMember]:
        """Remove the member ``member_id``; the members that remain."""
        request = cluster_pb2.MemberRemoveRequest(ID=member_id)
        response = await self._call("MemberRemove", request, cluster_pb2.MemberRemoveResponse.FromString)
        return [EtcdMember.from_pb(m) for m in response.members]

    async def promote(self, member_id: int) -> list[EtcdMember]:
        """Make the learner ``member_id`` a voting member; RuntimeError (FAILED_PRECONDITION) while it is behind."""
        request = cluster_pb2.MemberPromoteRequest(ID=member_id)
        response = await self._call("MemberPromote", request, cluster_pb2.MemberPromoteResponse.FromString)
        return [EtcdMember.from_pb(m) for m in response.members]

    async def close(self) -> None:
        """Close the channels."""
        await self._members.close()
