"""The GBP resources' attribute maps, and a request body checked against them as Neutron's API
layer does it (``neutron.api.v2.base.Controller.prepare_request_body``), with neutron-lib's own
``AttributeInfo``, validators and converters: unknown attributes, attributes not allowed in a
POST or a PUT, required ones, defaults, conversions, validations, each refused with Neutron's
message and a 400.

The maps are GBP's (``group_policy``, ``group_policy_mapping``, ``servicechain``) with the
PROXY_GROUP extension's attributes exactly as seed 001's table gives them. neutron-lib costs
seconds to import, so it is imported on the first GBP request, not when OCX starts.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from .errors import PolicyError, bad_request

# collection → its resource name (the body's key)
RESOURCES = {
    "l3_policies": "l3_policy",
    "l2_policies": "l2_policy",
    "policy_target_groups": "policy_target_group",
    "policy_targets": "policy_target",
    "servicechain_nodes": "servicechain_node",
    "servicechain_specs": "servicechain_spec",
    "servicechain_instances": "servicechain_instance",
}
# GBP's own URL prefixes (Neutron's COMMON_PREFIXES of the two service plugins).
PREFIXES = {"l3_policies": "grouppolicy", "l2_policies": "grouppolicy",
            "policy_target_groups": "grouppolicy", "policy_targets": "grouppolicy",
            "servicechain_nodes": "servicechain", "servicechain_specs": "servicechain",
            "servicechain_instances": "servicechain"}

DEFAULT_PROXY_IP_POOL = "192.168.0.0/16"
DEFAULT_PROXY_SUBNET_PREFIX_LENGTH = 29
DEFAULT_IP_POOL = "10.0.0.0/8"
DEFAULT_SUBNET_PREFIX_LENGTH = 24


def _attr(post: bool, put: bool, **spec: Any) -> dict:
    return {"allow_post": post, "allow_put": put, "is_visible": True, **spec}


@functools.cache
def attribute_maps(proxy_ip_pool: str = DEFAULT_PROXY_IP_POOL,
                   proxy_prefix_length: int = DEFAULT_PROXY_SUBNET_PREFIX_LENGTH) -> dict:
    """collection → attribute map; the proxy defaults are configurable as in GBP
    (``[group_policy_proxy_group]``), their defaults the seed's."""
    from neutron_lib import constants
    from neutron_lib.api import converters as conv

    not_specified = constants.ATTR_NOT_SPECIFIED
    boolean = conv.convert_to_boolean
    integer = conv.convert_to_int
    empty_list = conv.convert_none_to_empty_list

    def common() -> dict:
        return {
            "id": _attr(False, False, validate={"type:uuid": None}, primary_key=True),
            "name": _attr(True, True, validate={"type:string": None}, default=""),
            "description": _attr(True, True, validate={"type:string": None}, default=""),
            "tenant_id": _attr(True, False, validate={"type:string": None},
                               required_by_policy=True),
        }

    def shared() -> dict:
        return {"shared": _attr(True, True, default=False, convert_to=boolean,
                                required_by_policy=True, enforce_policy=True)}

    def ids(post: bool, put: bool, **spec: Any) -> dict:
        return _attr(post, put, validate={"type:uuid_list": None}, convert_to=empty_list,
                     default=None, **spec)

    maps = {
        "l3_policies": {
            **common(),
            "ip_version": _attr(True, False, convert_to=integer,
                                validate={"type:values": [4, 6]}, default=4),
            "ip_pool": _attr(True, False, validate={"type:subnet": None},
                             default=DEFAULT_IP_POOL),
            # 2-30 for IPv4, 2-127 for IPv6: checked against the pool (ocx.policy.pools)
            "subnet_prefix_length": _attr(True, True, convert_to=integer,
                                          default=DEFAULT_SUBNET_PREFIX_LENGTH),
            "l2_policies": ids(False, False),
            "routers": ids(True, True),
            **shared(),
            # PROXY_GROUP (seed 001)
            "proxy_ip_pool": _attr(True, False, validate={"type:subnet": None},
                                   default=proxy_ip_pool),
            "proxy_subnet_prefix_length": _attr(True, True, convert_to=integer,
                                                default=proxy_prefix_length),
        },
        "l2_policies": {
            **common(),
            "policy_target_groups": ids(False, False),
            "l3_policy_id": _attr(True, True, validate={"type:uuid_or_none": None},
                                  default=None),
            "network_id": _attr(True, False, validate={"type:uuid_or_none": None},
                                default=None),
            **shared(),
        },
        "policy_target_groups": {
            **common(),
            "policy_targets": ids(False, False),
            "l2_policy_id": _attr(True, True, validate={"type:uuid_or_none": None},
                                  default=None),
            "subnets": ids(True, True),
            **shared(),
            "service_management": _attr(True, True, default=False, convert_to=boolean,
                                        required_by_policy=True, enforce_policy=True),
            # PROXY_GROUP (seed 001)
            "proxied_group_id": _attr(True, False, validate={"type:uuid_or_none": None},
                                      default=not_specified, enforce_policy=True),
            "proxy_type": _attr(True, False, validate={"type:values": ["l2", "l3", None]},
                                default=not_specified, enforce_policy=True),
            "proxy_group_id": _attr(False, False, validate={"type:uuid_or_none": None},
                                    enforce_policy=True),
        },
        "policy_targets": {
            **common(),
            "policy_target_group_id": _attr(True, True, validate={"type:uuid_or_none": None},
                                            required=True),
            "port_id": _attr(True, False, validate={"type:uuid_or_none": None}, default=None),
            # PROXY_GROUP (seed 001)
            "proxy_gateway": _attr(True, False, default=False, convert_to=boolean,
                                   required_by_policy=True, enforce_policy=True),
            "group_default_gateway": _attr(True, False, default=False, convert_to=boolean,
                                           required_by_policy=True, enforce_policy=True),
        },
        "servicechain_nodes": {
            **common(),
            "service_type": _attr(True, False, validate={"type:string_or_none": None},
                                  default=None),
            "config": _attr(True, True, validate={"type:string": None}, required=True),
            **shared(),
        },
        "servicechain_specs": {
            **common(),
            "nodes": ids(True, True, required=True),
            "config_param_names": _attr(False, False, validate={"type:list_of_unique_strings":
                                                                None}, default=[]),
            **shared(),
        },
        "servicechain_instances": {
            **common(),
            "servicechain_specs": ids(True, True, required=True),
            "provider_ptg_id": _attr(True, False, validate={"type:uuid_or_none": None},
                                     default=None, required=True),
            "consumer_ptg_id": _attr(True, False, validate={"type:string_or_none": None},
                                     default=None, required=True),
            "management_ptg_id": _attr(True, False, validate={"type:uuid_or_none": None},
                                       default=None, required=True),
            "classifier_id": _attr(True, True, validate={"type:uuid_or_none": None},
                                   default=None, required=True),
            "config_param_values": _attr(True, False, validate={"type:string": None},
                                         default=""),
        },
    }
    for attrs in maps.values():
        # Neutron shows and accepts project_id beside tenant_id (populate_project_info).
        attrs["project_id"] = attrs["tenant_id"]
    return maps


def prepare(collection: str, body: Any, *, is_create: bool, project_id: str, is_admin: bool,
            maps: Mapping[str, dict] | None = None) -> dict:
    """The resource of a POST or PUT body, checked and converted; defaults filled on a POST
    (``ATTR_NOT_SPECIFIED`` becomes None). Raises :class:`PolicyError` (400)."""
    from neutron_lib import constants
    from neutron_lib import exceptions as n_exc
    from neutron_lib.api import attributes as n_attributes
    from webob import exc as webob_exc

    maps = maps if maps is not None else attribute_maps()
    attr_info = maps[collection]
    resource = RESOURCES[collection]
    if not body:
        raise bad_request("Resource body required")
    if not isinstance(body, dict):
        raise bad_request("Body contains invalid data")
    if collection in body:
        raise bad_request("Bulk operation not supported")
    res_dict = body.get(resource)
    if res_dict is None:
        raise bad_request(f"Unable to find '{resource}' in request body")
    if not isinstance(res_dict, dict):
        raise bad_request(f"Object '{resource}' contains invalid data")
    res_dict = dict(res_dict)
    info = n_attributes.AttributeInfo(attr_info)
    context = SimpleNamespace(project_id=project_id, can_set_project_id=is_admin)
    try:
        info.populate_project_id(context, res_dict, is_create)
        info.verify_attributes(res_dict)
        if is_create:
            info.fill_post_defaults(res_dict, exc_cls=bad_request)
        else:
            for name, spec in attr_info.items():
                if name in res_dict and not spec["allow_put"]:
                    raise bad_request(f"Cannot update read-only attribute {name}")
        info.convert_values(res_dict, exc_cls=bad_request)
    except webob_exc.HTTPBadRequest as exc:
        raise bad_request(str(exc.detail)) from None
    except n_exc.NeutronException as exc:
        # A converter's InvalidInput: Neutron's fault map answers 400 with the class name.
        raise PolicyError(400, type(exc).__name__, str(exc)) from None
    return {k: (None if v is constants.ATTR_NOT_SPECIFIED else v) for k, v in res_dict.items()}


def convert_filter(collection: str, name: str, value: str,
                   maps: Mapping[str, dict] | None = None) -> Any:
    """A listing filter's value as the attribute holds it (``proxy_gateway=True`` → True,
    ``ip_version=4`` → 4); other values are compared as given."""
    from neutron_lib import exceptions as n_exc
    from neutron_lib.api import converters as conv

    spec = (maps if maps is not None else attribute_maps())[collection].get(name, {})
    convert = spec.get("convert_to")
    if convert not in (conv.convert_to_boolean, conv.convert_to_int):
        return value
    try:
        return convert(value)
    except n_exc.NeutronException as exc:
        raise PolicyError(400, type(exc).__name__, str(exc)) from None


def visible(collection: str, maps: Mapping[str, dict] | None = None) -> tuple[str, ...]:
    return tuple((maps if maps is not None else attribute_maps())[collection])
