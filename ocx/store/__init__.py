"""Mapping stores: where OCX keeps token mappings and resource mappings (see README.md).

    store = await MappingStore.open("sqlite:///var/ocx.sqlite", [load_or_create_key(path)])
"""
from .crypto import generate_key, load_or_create_key
from .migrate import SchemaNotCurrent, upgrade
from .models import (
    SOURCES,
    ProjectProvider,
    ResourceMapping,
    SpanningNetwork,
    SpanningSubnet,
    SpanningView,
    TokenMapping,
    TokenMappingInfo,
    Twin,
    token_hash,
    utcnow,
)
from .sql import MappingStore
from .urls import async_url

__all__ = ["SOURCES", "MappingStore", "ProjectProvider", "ResourceMapping", "SchemaNotCurrent",
           "SpanningNetwork", "SpanningSubnet", "SpanningView", "TokenMapping", "TokenMappingInfo",
           "Twin", "async_url", "generate_key", "load_or_create_key", "token_hash", "upgrade",
           "utcnow"]
