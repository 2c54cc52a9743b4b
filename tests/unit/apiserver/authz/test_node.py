"""What a pod uses, as the Node authorizer sees it."""

from __future__ import annotations

from pinnace.apiserver.authz.node import pod_references


def test_pod_references_cover_volumes_env_pull_secrets_and_account() -> None:
    pod = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "serviceAccountName": "builder",
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "s", "secret": {"secretName": "vol-secret"}},
                {"name": "c", "configMap": {"name": "vol-cm"}},
                {"name": "p", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                {
                    "name": "proj",
                    "projected": {
                        "sources": [
                            {"secret": {"name": "proj-secret"}},
                            {"configMap": {"name": "kube-root-ca.crt"}},
                            {"serviceAccountToken": {"path": "token"}},
                        ]
                    },
                },
                {"name": "csi", "csi": {"driver": "x", "nodePublishSecretRef": {"name": "csi-secret"}}},
            ],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
            "containers": [
                {
                    "name": "c",
                    "env": [
                        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}},
                        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
                        {"name": "C", "value": "plain"},
                    ],
                    "envFrom": [{"configMapRef": {"name": "envfrom-cm"}}],
                }
            ],
        },
    }
    assert pod_references(pod) == {
        ("serviceaccounts", "shop", "builder"),
        ("secrets", "shop", "pull"),
        ("secrets", "shop", "vol-secret"),
        ("configmaps", "shop", "vol-cm"),
        ("persistentvolumeclaims", "shop", "data"),
        ("persistentvolumeclaims", "shop", "web-scratch"),
        ("secrets", "shop", "proj-secret"),
        ("configmaps", "shop", "kube-root-ca.crt"),
        ("secrets", "shop", "csi-secret"),
        ("secrets", "shop", "init-env"),
        ("secrets", "shop", "env-secret"),
        ("configmaps", "shop", "env-cm"),
        ("configmaps", "shop", "envfrom-cm"),
    }


def test_a_pod_without_an_account_runs_as_default() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "c"}]}}
    assert pod_references(pod) == {("serviceaccounts", "ns", "default")}
