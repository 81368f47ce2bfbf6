"""`client.cluster`: placeholder until the cluster service schemas land."""

from __future__ import annotations

from waza.client.base import Transport


class ClusterAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport
