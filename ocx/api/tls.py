"""TLS contexts from the configuration (issue 12): the socket OCX listens on (``[ssl]``) and
the calls it makes with aiohttp (``[keystone]`` and ``[provider:NAME]`` cafile, certfile,
keyfile, insecure: ``config.ClientTLS``). The keystoneauth1 sessions take the same options
as ``verify`` and ``cert`` (``identity.ksa``).

Built once at start-up: a file that cannot be read, or a certificate that does not match its
key, stops OCX with the option named rather than failing every call later.
"""
from __future__ import annotations

import ssl

from oslo_config import cfg

from .. import config


def server_context(conf: cfg.ConfigOpts) -> ssl.SSLContext | None:
    """``[ssl]``'s context for the listening socket; None for plain HTTP."""
    files = config.server_tls(conf)
    if files is None:
        return None
    cert_file, key_file, ca_file = files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert_file, key_file)
        if ca_file:
            context.load_verify_locations(ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"[ssl] cert_file, key_file or ca_file cannot be used: "
                         f"{exc.strerror or exc}") from None
    return context


class ClientContexts:
    """The contexts of OCX's aiohttp calls: ``default`` (``[keystone]``'s, the connector's:
    the home cloud, discovered providers, peers) and one per configured provider whose
    options differ from it (``for_provider``)."""

    def __init__(self, conf: cfg.ConfigOpts, providers: list[str]) -> None:
        home = config.client_tls(conf)
        self.default: ssl.SSLContext | bool = (True if home == config.ClientTLS()
                                               else home.ssl_context())
        self._providers: dict[str, ssl.SSLContext] = {}
        for name in providers:
            tls = config.client_tls(conf, name)
            if tls != home:
                self._providers[name] = tls.ssl_context(f"[provider:{name}]")

    def for_provider(self, name: str) -> ssl.SSLContext | bool:
        """What aiohttp's ``ssl=`` takes for a call to ``name`` (True: the connector's)."""
        return self._providers.get(name, True)
