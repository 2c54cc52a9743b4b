"""Pinnace: a Kubernetes distribution and its tool belt, in Python.

The package is layered (see ARCHITECTURE.md): ``storage`` (revisioned key-value
stores) under ``api`` (the object model) under ``apiserver`` (HTTP), with
``client``/``runtime`` for everything that talks to a cluster, and ``cli`` on top.
"""

__version__ = "0.1.0"

#: The Kubernetes version whose API semantics and wire format Pinnace serves.
KUBERNETES_VERSION = "v1.32.0"
