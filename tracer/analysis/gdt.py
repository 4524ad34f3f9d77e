"""GDT descriptors, decoded from the bytes read out of the guest."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Descriptor:
    raw: int

    @property
    def present(self) -> bool:
        return bool(self.raw >> 47 & 1)

    @property
    def dpl(self) -> int:
        return self.raw >> 45 & 3

    @property
    def is_code(self) -> bool:
        return bool(self.raw >> 44 & 1) and bool(self.raw >> 43 & 1)

    @property
    def long_mode(self) -> bool:
        return bool(self.raw >> 53 & 1)

    def describe(self) -> str:
        if not self.present:
            return "not present"
        kind = ("64-bit code" if self.long_mode else "32-bit code") if self.is_code else "data"
        return f"{kind}, DPL {self.dpl}"


def descriptor_at(gdt: bytes, selector: int) -> Descriptor | None:
    index = selector & ~7
    if index + 8 > len(gdt):
        return None
    return Descriptor(int.from_bytes(gdt[index : index + 8], "little"))
