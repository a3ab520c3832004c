"""OCX: the gateway of an Open Cloud eXchange, one OpenStack endpoint in front of many clouds."""

__version__ = "0.1.0"
