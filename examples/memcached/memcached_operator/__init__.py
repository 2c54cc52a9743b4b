"""The classic example operator: a Memcached kind run as a Deployment, on the Pinnace SDK."""
