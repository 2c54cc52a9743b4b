"""Makes ``memcached_operator`` importable for the example's tests (the directory is not a package)."""
