"""Helpers for registering generated servicers."""

from __future__ import annotations

from types import ModuleType


def service_full_name(pb2_module: ModuleType, service: str) -> str:
    """``drawdown.metering.v1.MeterService`` from the generated module that declares it."""
    return pb2_module.DESCRIPTOR.services_by_name[service].full_name
