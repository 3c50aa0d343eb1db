"""Tests of deploy/: image entrypoint, compose, Kubernetes manifests, NATS configuration."""
