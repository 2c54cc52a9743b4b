"""kubectl plugins and a krew-style plugin manager.

The manager (``pinnace plugin …``, and ``kubectl pkg …`` once installed):

- ``manifest``: krew's ``Plugin`` manifests, validated; choosing the platform by os/arch.
- ``index``: indexes of manifests — git clones or plain directories.
- ``archive``: download, sha256 check *before* unpacking, safe tar.gz/zip extraction.
- ``root``: the install root (``$PINNACE_PLUGIN_ROOT``): ``bin/``, ``store/``, ``receipts/``, ``index/``.
- ``installer``: atomic install/upgrade (build beside the store, switch the link) and uninstall.
- ``cli``: the commands; ``pkg``: the same commands as ``kubectl pkg``.
- ``publish``: builds Pinnace's own index (archives + manifests with their sha256).

The plugins, each run by a ``kubectl-<name>`` wrapper as ``python -m``:
``get_all`` (``kubectl get-all``), ``ns`` (``kubectl ns``), ``view_secret``
(``kubectl view-secret``), and ``kubectl_pinnace`` (``kubectl pinnace``: the ``pinnace`` commands).
``kubeargs`` holds what they share: ``--kubeconfig``, ``--context``, ``-n``.
"""
