"""Pod Security admission: the Pod Security Standards, enforced, warned about and audited by namespace label.

:mod:`.checks` holds the standards themselves — the baseline and restricted
checks of Kubernetes v1.32, with upstream's reasons and details — as plain
functions of a pod's metadata and spec; :mod:`.plugin` is the admission plugin
that reads a namespace's ``pod-security.kubernetes.io/{enforce,audit,warn}`` (and
``-version``) labels and applies them to pods, pod templates of workloads, and
namespace label changes.
"""
