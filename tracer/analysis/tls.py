"""TLS ownership for analysis: the rules live in `tracer.tls_owners`, below the probes too."""

from __future__ import annotations

from tracer.decode.msr import MSR_FS_BASE, MSR_GS_BASE
from tracer.decode.x86 import KERNEL_HALF
from tracer.tls_owners import (
    ARCH_SET_FS,
    ARCH_SET_GS,
    NR_ARCH_PRCTL,
    OwnerKind,
    TlsOwners,
    owner_kind,
)

__all__ = [
    "ARCH_SET_FS",
    "ARCH_SET_GS",
    "KERNEL_HALF",
    "MSR_FS_BASE",
    "MSR_GS_BASE",
    "NR_ARCH_PRCTL",
    "OwnerKind",
    "TlsOwners",
    "owner_kind",
]
