"""Why a client could not be configured or could not obtain its credentials.

::

    ConfigError (a kubeconfig, in-cluster or TLS setting that cannot be used)
     ├── NotInClusterError   the in-cluster environment is missing
     └── CredentialError     credentials could not be obtained when a request needed them
          └── ExecPluginError    an exec credential plugin failed or answered nonsense

Errors the *server* returns are ``pinnace.api.errors.StatusError``; these are
the client's own, raised before a request leaves (or when it must be resent).
Every message names the file, context, cluster, user or command at fault.
"""

from __future__ import annotations

__all__ = ["ConfigError", "CredentialError", "ExecPluginError", "NotInClusterError"]


class ConfigError(Exception):
    """A client configuration that cannot be used; the message says what is wrong and where."""


class NotInClusterError(ConfigError):
    """In-cluster configuration was asked for outside a pod (no KUBERNETES_SERVICE_HOST/PORT)."""


class CredentialError(ConfigError):
    """Credentials could not be read or renewed (a token file, a client certificate, a plugin)."""


class ExecPluginError(CredentialError):
    """An exec credential plugin could not be run, failed, or returned an unusable ExecCredential."""
