"""Generated protobuf messages for etcd v3 (see README.md)."""
