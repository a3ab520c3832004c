"""Errors of the GBP API, as GBP (a Neutron service plugin) puts them on the wire:
``{"NeutronError": {"type": <exception class>, "message": ..., "detail": ""}}`` with the
status Neutron's fault map gives the class (BadRequest 400, NotFound 404, InUse/Conflict 409,
ResourceExhausted 503...). The names and messages are GBP's own.
"""
from __future__ import annotations


class PolicyError(Exception):
    """An answer with an error status; ``type`` is the NeutronError type."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message

    def body(self) -> dict:
        return {"NeutronError": {"type": self.type, "message": self.message, "detail": ""}}


def bad_request(message: str) -> PolicyError:
    """webob's HTTPBadRequest, raised by Neutron's API layer (attribute checks)."""
    return PolicyError(400, "HTTPBadRequest", message)


def invalid(type_: str, message: str) -> PolicyError:
    """A GBP BadRequest / InvalidInput subclass."""
    return PolicyError(400, type_, message)


def not_found(resource: str, resource_id: str) -> PolicyError:
    type_, text = NOT_FOUND[resource]
    return PolicyError(404, type_, text % resource_id)


def in_use(resource: str, resource_id: str) -> PolicyError:
    type_, text = IN_USE[resource]
    return PolicyError(409, type_, text % resource_id)


NOT_FOUND = {
    "l3_policy": ("L3PolicyNotFound", "L3Policy %s could not be found"),
    "l2_policy": ("L2PolicyNotFound", "L2Policy %s could not be found"),
    "policy_target_group": ("PolicyTargetGroupNotFound",
                            "Policy Target Group %s could not be found"),
    "policy_target": ("PolicyTargetNotFound", "Policy Target %s could not be found"),
    "servicechain_node": ("ServiceChainNodeNotFound",
                          "ServiceChainNode %s could not be found"),
    "servicechain_spec": ("ServiceChainSpecNotFound",
                          "ServiceChainSpec %s could not be found"),
    "servicechain_instance": ("ServiceChainInstanceNotFound",
                              "ServiceChainInstance %s could not be found"),
}

IN_USE = {
    "l3_policy": ("L3PolicyInUse", "Unable to complete operation, L3Policy %s is in use"),
    "l2_policy": ("L2PolicyInUse", "Unable to complete operation, L2Policy %s is in use"),
    "policy_target_group": ("PolicyTargetGroupInUse", "Policy Target Group %s is in use"),
    "servicechain_node": ("ServiceChainNodeInUse",
                          "Unable to complete operation, ServiceChainNode %s is in use"),
    "servicechain_spec": ("ServiceChainSpecInUse",
                          "Unable to complete operation, ServiceChainSpec %s is in use"),
}


class RenderFailed(PolicyError):
    """Neutron refused or failed a step of rendering; what was made is undone. ``leftovers``
    names what could not be undone (also in the message)."""

    def __init__(self, status: int, type_: str, message: str,
                 leftovers: tuple[str, ...] = ()) -> None:
        if leftovers:
            message = (f"{message} What could not be undone and is left in Neutron: "
                       f"{'; '.join(leftovers)}.")
        super().__init__(status, type_, message)
        self.leftovers = leftovers
