"""Where the mapping store of a configured OCX is, and the keys that open it.

Kept apart from the gateway's assembly so that the operator commands find the store without
importing the whole gateway.
"""
from __future__ import annotations

import os

from oslo_config import cfg

from .crypto import load_or_create_key


def store_url(conf: cfg.ConfigOpts) -> str:
    return conf.store.url or f"sqlite:///{os.path.abspath(conf.state_dir)}/ocx.sqlite"


def store_keys(conf: cfg.ConfigOpts) -> list[str]:
    if conf.store.encryption_keys:
        return list(conf.store.encryption_keys)
    os.makedirs(conf.state_dir, exist_ok=True)
    return [load_or_create_key(os.path.join(conf.state_dir, "encryption.key"))]
