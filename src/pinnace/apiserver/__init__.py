"""The Kubernetes API server: an aiohttp application over a Store.

Routing turns a URL into request info; discovery and OpenAPI describe what is
served; the generic REST store implements every verb for every resource, with
kind-specific behaviour as strategy hooks; the watch cache fans one store watch
per resource out to all watchers.
"""
