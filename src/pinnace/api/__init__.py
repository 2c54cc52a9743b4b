"""The Kubernetes object model, with no HTTP in sight.

Objects are plain ``dict``s as on the wire. This package holds what the API
server (and clients) need to reason about them: the v1.32 definitions and the
resource table derived from them, metadata rules (names, labels), label and
field selectors, patches (JSON, merge, strategic), table printing, and the
``errors`` tree that maps to ``metav1.Status``.
"""
