"""OCI and Docker schema2 manifests and indexes parse alike; the host's platform is picked from an index."""

from __future__ import annotations

import orjson
import pytest

from pinnace.node.images import manifest as m

CONFIG = {"mediaType": m.OCI_CONFIG, "digest": "sha256:" + "c" * 64, "size": 10}
LAYER = {"mediaType": m.OCI_LAYER_GZIP, "digest": "sha256:" + "1" * 64, "size": 20}


def _index(media_type: str) -> bytes:
    entries = [
        {"mediaType": m.OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 1,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": m.OCI_MANIFEST, "digest": "sha256:" + "b" * 64, "size": 1,
         "platform": {"os": "linux", "architecture": "amd64"}},
    ]  # fmt: skip
    return orjson.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries})


@pytest.mark.parametrize("media_type", [m.OCI_MANIFEST, m.DOCKER_MANIFEST])
def test_manifest_of_either_family(media_type: str) -> None:
    body = orjson.dumps({"schemaVersion": 2, "mediaType": media_type, "config": CONFIG, "layers": [LAYER, LAYER]})
    parsed = m.parse_manifest(body)
    assert parsed.media_type == media_type
    assert parsed.config.digest == CONFIG["digest"]
    assert [layer.size for layer in parsed.layers] == [20, 20]


def test_media_type_from_content_type_or_shape() -> None:
    bare = orjson.dumps({"schemaVersion": 2, "config": CONFIG, "layers": []})
    assert m.media_type_of(bare) == m.OCI_MANIFEST
    assert m.media_type_of(bare, m.DOCKER_MANIFEST + "; charset=utf-8") == m.DOCKER_MANIFEST
    assert m.media_type_of(orjson.dumps({"schemaVersion": 2, "manifests": []})) == m.OCI_INDEX
    with pytest.raises(m.ManifestError, match="schema1"):
        m.media_type_of(orjson.dumps({"schemaVersion": 1, "fsLayers": []}))


@pytest.mark.parametrize("media_type", [m.OCI_INDEX, m.DOCKER_LIST])
def test_platform_selection(media_type: str) -> None:
    entries = m.parse_index(_index(media_type))
    assert m.select_platform(entries, ("linux", "amd64")).digest == "sha256:" + "b" * 64
    assert m.select_platform(entries, ("linux", "arm64")).digest == "sha256:" + "a" * 64
    with pytest.raises(m.ManifestError, match="linux/s390x"):
        m.select_platform(entries, ("linux", "s390x"))


def test_index_is_not_a_manifest_and_bad_digests_are_refused() -> None:
    with pytest.raises(m.ManifestError):
        m.parse_manifest(_index(m.OCI_INDEX))
    bad = orjson.dumps({"schemaVersion": 2, "config": {**CONFIG, "digest": "sha256:xyz"}, "layers": []})
    with pytest.raises(m.ManifestError, match="digest"):
        m.parse_manifest(bad)
    with pytest.raises(m.ManifestError, match="JSON"):
        m.parse_manifest(b"{nope")
