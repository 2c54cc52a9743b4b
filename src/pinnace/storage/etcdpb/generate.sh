#!/usr/bin/env bash
# Regenerate the Python protobuf modules from kv.proto and rpc.proto (run from anywhere).
# Needs grpcio-tools (pip install grpcio-tools); its bundled protoc writes *_pb2.py and .pyi stubs.
set -euo pipefail
src="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$src"
python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. \
    pinnace/storage/etcdpb/kv.proto pinnace/storage/etcdpb/rpc.proto pinnace/storage/etcdpb/cluster.proto
