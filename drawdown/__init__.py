"""Drawdown: usage-based billing with prepaid credits, as three gRPC services.

This package is the shared runtime (config, server bootstrap, auth, errors, database,
clock, money) and, under ``drawdown/<service>/v1/``, the generated protobuf stubs.
"""
