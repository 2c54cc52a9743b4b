"""Talking to a Kubernetes API server: an async REST client and its configuration.

- ``rest``: ``RestClient`` — paths, JSON bodies, typed errors, watch streams.
- ``config``: ``load_client_config(kubeconfig, context)`` → ``ClientConfig``,
  exactly as kubectl/client-go choose it (``--kubeconfig``, ``KUBECONFIG``,
  ``~/.kube/config``, else in-cluster); ``ClientConfig.rest_client()``.
- ``loader``: finding and merging kubeconfig files (first file wins per name).
- ``tls``: the ``ssl.SSLContext`` from a CA and a client certificate.
- ``auth``: credentials per request — static, token file (re-read on change);
  ``exec_plugin``: ExecCredential plugins (cached until expiry, re-run on 401).
- ``exceptions``: ``ConfigError`` and its subclasses.
- ``kubeconfig``: writing and merging the kubeconfig ``pinnace up`` produces.
- ``discovery``, ``restmapper``: what the server serves, kind → resource.
"""

from pinnace.client.config import ClientConfig, in_cluster_config, load_client_config
from pinnace.client.exceptions import ConfigError, CredentialError, ExecPluginError, NotInClusterError

__all__ = [
    "ClientConfig",
    "ConfigError",
    "CredentialError",
    "ExecPluginError",
    "NotInClusterError",
    "in_cluster_config",
    "load_client_config",
]
