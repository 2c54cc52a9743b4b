"""The node's local OCI image store: pulls, pushes, builds, imports, unpacked root filesystems and image GC.

- :mod:`.reference` — image references normalised as Docker does, digests;
- :mod:`.manifest` — OCI and Docker schema2 manifests, indexes and platform selection;
- :mod:`.store` — the content-addressed store: blobs by digest, image records, references;
- :mod:`.unpack` — layers applied in order (whiteouts, opaque dirs) into a cached, read-only rootfs;
- :mod:`.config` — an image's Entrypoint/Cmd/Env/WorkingDir/User, and how they meet a pod's command/args;
- :mod:`.build` — images from a directory or a static binary (busybox), offline;
- :mod:`.archive` — ``import`` of OCI layouts and ``docker save`` tars;
- :mod:`.auth` — registry credentials: WWW-Authenticate challenges, imagePullSecrets, docker config files;
- :mod:`.registry` — the registry v2 API client: pull (platform selection, digest checks, redirects) and push;
- :mod:`.service` — :class:`LocalImageService`, the CRI ImageService the node agent and the ``oci`` runtime use;
- :mod:`.gc` — image garbage collection under disk pressure (upstream's high/low thresholds, LRU).
"""
