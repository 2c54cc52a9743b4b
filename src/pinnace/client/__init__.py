"""Talking to a Kubernetes API server: an async REST client and kubeconfig handling."""
