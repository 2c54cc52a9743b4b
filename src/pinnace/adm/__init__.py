"""kubeadm's work for Pinnace: the phases that make a cluster's credentials, and later init/join/token/….

Each phase is a plain function over a data directory (the counterpart of
``/etc/kubernetes``), so ``pinnace up``, ``pinnace adm init`` and ``pinnace adm
init phase …`` all run the same code:

- :mod:`pinnace.adm.pki` — the ``certs`` phase: the cluster CA, the front-proxy
  CA, the API server's serving and client certificates, the service-account
  key pair (and the etcd ones when asked), in kubeadm's layout under ``pki/``;
- :mod:`pinnace.adm.kubeconfigs` — the ``kubeconfig`` phase: ``admin.conf``,
  ``super-admin.conf``, ``controller-manager.conf``, ``scheduler.conf``, and a
  node's kubeconfig, each with a client certificate of the cluster CA;
- :mod:`pinnace.adm.init`, :mod:`pinnace.adm.join`, :mod:`pinnace.adm.reset`,
  :mod:`pinnace.adm.upgrade` — the commands' phases; :mod:`pinnace.adm.kubeadmconfig`
  — the ``kubeadm-config`` ConfigMap they share through the API;
- :mod:`pinnace.adm.uploadcerts` and :mod:`pinnace.adm.joincontrolplane` — the
  shared keys encrypted in ``kubeadm-certs``, and a second control plane that
  joins with them on stacked etcd (:mod:`pinnace.cluster.stacked_etcd`).
"""
