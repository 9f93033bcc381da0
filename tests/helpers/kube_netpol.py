"""NetworkPolicy semantics (networking.k8s.io/v1), evaluated over rendered objects instead of a cluster.

A connection is allowed when the source's egress policies and the destination's ingress policies both allow
it; a pod no policy selects for a direction is not isolated in that direction. Pod addresses are matched by
ipBlocks too (some network plugins do, the specification leaves it open), so a "denied" result holds whatever
the plugin. Peers outside the namespace are described by their namespace's and pod's labels, or an address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """A pod (labels, namespace labels, its address, its named ports) or, with no labels, a bare address."""

    ip: str
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    name: str = ""

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None

    def __str__(self) -> str:
        return self.name or self.ip


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector; None (the field left out) selects nothing, {} selects everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


def in_block(ip: str, block: dict[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    if address not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))


class Policies:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.policies = [o for o in objects if o["kind"] == "NetworkPolicy"]

    def _selecting(self, pod: Endpoint, direction: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.policies
            if p["metadata"]["namespace"] == pod.namespace
            and selects(p["spec"]["podSelector"], pod.labels)
            and direction in p["spec"].get("policyTypes", ["Ingress"])
        ]

    @staticmethod
    def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            return in_block(other.ip, peer["ipBlock"])
        if not other.is_pod:
            return False
        if "namespaceSelector" in peer:
            if not selects(peer["namespaceSelector"], other.namespace_labels):
                return False
        elif other.namespace != policy_namespace:
            return False
        return "podSelector" not in peer or selects(peer["podSelector"], other.labels)

    @staticmethod
    def _port_matches(rule_ports: list[dict[str, Any]] | None, target: Endpoint, port: int, protocol: str) -> bool:
        if not rule_ports:
            return True
        for item in rule_ports:
            if item.get("protocol", "TCP") != protocol:
                continue
            wanted = item.get("port")
            if wanted is None:
                return True
            number = target.ports.get(wanted) if isinstance(wanted, str) else wanted
            if number is not None and number <= port <= item.get("endPort", number):
                return True
        return False

    def _allows(
        self, pod: Endpoint, other: Endpoint, target: Endpoint, port: int, protocol: str, direction: str
    ) -> bool:
        selecting = self._selecting(pod, direction)
        if not selecting:
            return True  # not isolated in this direction
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in selecting:
            for rule in policy["spec"].get(key, []):
                peers = rule.get(peers_key)
                if peers and not any(self._peer_matches(p, policy["metadata"]["namespace"], other) for p in peers):
                    continue
                if self._port_matches(rule.get("ports"), target, port, protocol):
                    return True
        return False

    def allowed(self, source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP") -> bool:
        egress = not source.is_pod or self._allows(source, target, target, port, protocol, "Egress")
        ingress = not target.is_pod or self._allows(target, source, target, port, protocol, "Ingress")
        return egress and ingress
