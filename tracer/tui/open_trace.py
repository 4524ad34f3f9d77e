"""A trace opened for viewing: its source, what the TUI indexed from it, and the kernel image it
names (loaded on demand, for symbols and the entry path). No Textual here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracer.analysis.marks import EventMarks
from tracer.events import Event
from tracer.store.analysis import AnalysisScan, StoredAnalysis
from tracer.store.api import TraceSource
from tracer.store.marks import MarkScan, last_seq
from tracer.store.reader import TraceReader
from tracer.tui.view_models.trace_index import OWNER_KINDS, RARE_KINDS, TraceIndex

if TYPE_CHECKING:
    from tracer.image.trace_kernel import TraceKernel

_SCAN_CHUNK = 2048
# What says how to read the kernel, in the file a live capture writes: the ELF and symbols
# (a bzImage boots, its extracted ELF and System.map are read) and the boot's KASLR slide.
KERNEL_META = ("kernel", "symbols", "kaslr_slide")


class OpenTrace:
    """The trace the TUI shows; `source` is a `TraceReader` (replay) or `MemoryTrace` (live)."""

    def __init__(
        self,
        source: TraceSource,
        path: str | os.PathLike[str] | None = None,
        *,
        live: bool = False,
        kernel: Path | None = None,
    ) -> None:
        self.source = source
        self.path = None if path is None else os.fspath(path)
        self.live = live
        self.index = TraceIndex()
        self.index.feed(source.events(kinds=RARE_KINDS))
        self._owner_next_seq = 0
        self.analysis: StoredAnalysis | None = None
        self._analysis_scan: AnalysisScan | None = None
        self.marks = self._stored_marks()
        self._mark_scan: MarkScan | None = None
        self._kernel_override = kernel
        self._images: dict[str, Any] = {}
        self._image_errors: dict[str, str] = {}
        self._entry: Any = None
        self._entry_error: str | None = None
        self._kernel_known = not live
        self._kernel: TraceKernel | None = None

    @property
    def meta(self) -> dict[str, str]:
        return self.source.meta

    @property
    def name(self) -> str:
        return os.path.basename(self.path) if self.path else "live capture"

    def add_events(self, events: list[Event]) -> bool:
        """Live: events appended to the source; index the ones the scan would have found.
        True when the capture named another kernel to read (or its slide): load it again."""
        kernel_changed = not self._kernel_known and self._learn_kernel()
        self.index.feed_live(events)
        if self.marks is not None:
            self.marks.feed(events)
        if events:
            self._owner_next_seq = events[-1].seq + 1
            self.index.owners_scanned_to = events[-1].seq
        return kernel_changed

    def _learn_kernel(self) -> bool:
        """Live: how to read the kernel, from the meta of the file the capture writes (a
        bzImage's ELF and symbols are known once it opened the kernel, the slide once the
        probes are armed). Settled with the slide, or for a kernel that boots as it is read."""
        import sqlite3

        from tracer.store.api import TraceFileError
        from tracer.store.reader import TraceReader

        if self.path is None or not os.path.exists(self.path):
            return False
        try:
            with TraceReader.open(self.path) as reader:
                written = reader.meta
        except (TraceFileError, sqlite3.Error):  # not readable yet: ask at the next batch
            return False
        changed = False
        for key in KERNEL_META:
            if written.get(key) and written[key] != self.meta.get(key):
                self.source.set_meta(key, written[key])  # type: ignore[attr-defined]
                changed = True
        if changed:
            self._kernel = None
            self._entry, self._entry_error = None, None  # found with the wrong kernel
        boots_as_read = written.get("boot_image") == written.get("kernel")
        self._kernel_known = "kaslr_slide" in written or (bool(written) and boots_as_read)
        return changed

    # Jump marks: stored in a file written with them, else made in memory (`mark_steps`).

    def _stored_marks(self) -> EventMarks | None:
        if isinstance(self.source, TraceReader):
            return self.source.stored_marks()
        if self.live and self.source.count() == 0:
            return EventMarks()  # a live capture's: fed event by event (add_events)
        return None

    def mark_steps(self) -> Iterator[float]:
        """Mark a trace that stores no marks, a chunk at a time (yielding the fraction done)."""
        if self.marks is not None:
            return
        if self._mark_scan is None:
            self._mark_scan = MarkScan(self.source)
        yield from self._mark_scan.steps()
        if self.marks is None and self._mark_scan.done:
            self.marks = self._mark_scan.marks

    def jump_marks(self) -> EventMarks | None:
        """The marks, when they cover every event the source holds now."""
        if self.marks is None or self.marks.through_seq < last_seq(self.source):
            return None
        return self.marks

    # The analysis (owners and findings): stored in a complete file, or made once from it.

    @property
    def analysable(self) -> bool:
        """A finished file: its analysis is read from it (or made once and stored in it);
        a live capture or a file still being written is scanned as it grows."""
        return not self.live and isinstance(self.source, TraceReader) and self.source.complete

    def analysis_steps(self) -> Iterator[float]:
        """Load the stored analysis, or analyse the file a chunk at a time (yielding the
        fraction done) and store it there when the file can be written. The owner scan and
        the findings both drive it: whichever runs first does the work, once."""
        if self.analysis is not None:
            return
        if self._analysis_scan is None:
            assert isinstance(self.source, TraceReader)
            stored = self.source.stored_analysis()
            if stored is not None:
                self._analysed(stored)
                return
            self._analysis_scan = AnalysisScan(self.source, self.path, save=self.path is not None)
        scan = self._analysis_scan
        yield from scan.steps()
        if self.analysis is None and scan.result is not None:
            self._analysed(scan.result)

    def _analysed(self, analysis: StoredAnalysis) -> None:
        self.analysis = analysis
        self.index.load_owners(analysis.owner_rows, analysis.through_seq)

    def findings_scan(self, checker: Any) -> Any:
        """The findings tab's scan: from the analysis, or run over a growing trace."""
        from tracer.tui.view_models.findings import FindingsScan, StoredFindingsScan

        if self.analysable:
            return StoredFindingsScan(self.source, checker, self)
        return FindingsScan(self.source, checker)

    # Owners of base values: arch_prctl calls are among all syscalls, so they are scanned for.

    def owner_scan(self) -> Iterator[float]:
        """Index owner evidence a chunk at a time; yields the fraction of events scanned."""
        if self.analysable:
            yield from self.analysis_steps()
            return
        total = max(1, self.source.count(kinds=OWNER_KINDS))
        seen = 0
        while True:
            chunk = list(self.source.events(self._owner_next_seq, _SCAN_CHUNK, kinds=OWNER_KINDS))
            self.index.learn_owners(chunk)
            seen += len(chunk)
            if chunk:
                self._owner_next_seq = chunk[-1].seq + 1
                self.index.owners_scanned_to = chunk[-1].seq
            if len(chunk) < _SCAN_CHUNK:
                self.index.owner_scan_done = True
                return
            yield min(1.0, seen / total)

    # The kernel image.

    @property
    def kernel(self) -> TraceKernel:
        """The `TraceKernel` the meta names (or --kernel): as report and check open it. Read
        once (symbolize asks for it at every address); live, again when the capture says more."""
        if self._kernel is None:
            from tracer.image.trace_kernel import TraceKernel

            self._kernel = TraceKernel.of(self.meta, self._trace_file, self._kernel_override)
        return self._kernel

    @property
    def _trace_file(self) -> Path | None:
        return Path(self.path) if self.path is not None else None

    @property
    def kernel_path(self) -> Path | None:
        return self.kernel.path

    def _resolve(self, text: str) -> Path:
        """Meta paths relative to the trace file's folder (a trace moved with its binaries)."""
        from tracer.image.trace_kernel import meta_path

        return meta_path(text, self._trace_file)

    def image(self, path: Path | None) -> Any:
        """An `ElfImage`, opened once; None when missing or unreadable (see `image_error`)."""
        if path is None:
            return None
        key = str(path)
        if key in self._images:
            return self._images[key]
        from tracer.image import ElfImage, ImageError

        kernel = self.kernel
        image = None
        try:
            # The trace's kernel with the symbols the capture named (a bzImage's extracted ELF
            # has none of its own).
            image = kernel.open() if path == kernel.path else ElfImage.open(path)
        except (ImageError, OSError) as exc:
            self._image_errors[key] = str(exc)
        self._images[key] = image
        return image

    def image_error(self, path: Path | None) -> str:
        if path is None:
            return "the trace names no kernel (meta 'kernel')"
        return self._image_errors.get(str(path), "")

    def kernel_image(self) -> Any:
        return self.image(self.kernel_path)

    def kernel_loaded(self) -> bool:
        path = self.kernel_path
        return path is not None and str(path) in self._images

    @property
    def kaslr_slide(self) -> int:
        """How far this boot moved the kernel (Linux's KASLR): MSR values are where it ran,
        the trace's pcs and the symbols where it was linked."""
        return self.kernel.slide

    def unslid(self, addr: int) -> int:
        """A kernel address as the running kernel had it (an MSR value), at link time."""
        return self.kernel.unslid(addr)

    def symbolize(self, addr: int) -> str | None:
        path = self.kernel_path
        image = self._images.get(str(path)) if path is not None else None
        return image.symbolize(addr) if image is not None else None

    def kernel_section(self, addr: int) -> str | None:
        """The name of the loaded kernel image's section holding `addr` (None: none, or the
        image is not loaded yet)."""
        path = self.kernel_path
        image = self._images.get(str(path)) if path is not None else None
        if image is None:
            return None
        return next(
            (
                s.name
                for s in image.sections
                if s.allocated and not s.tls and s.addr <= addr < s.end
            ),
            None,
        )

    def entry_path(self) -> tuple[Any, tuple[str, ...], str | None]:
        """(EntryPath or None, pt_regs field names, why not) for the kernel's syscall entry."""
        from tracer.decode.ptregs import LINUX_PT_REGS_FIELDS

        if self._entry is not None or self._entry_error is not None:
            return self._entry, self._fields, self._entry_error
        self._fields: tuple[str, ...] = tuple(LINUX_PT_REGS_FIELDS)
        image = self.kernel_image()
        if image is None:
            self._entry_error = self.image_error(self.kernel_path) or "no kernel image"
            return None, self._fields, self._entry_error
        from tracer.decode.msr import MSR_LSTAR
        from tracer.image import ImageError, analyze_syscall_entry
        from tracer.image.kernel_entry import find_entry, ptregs_layout

        lstar = self.index.msr_at(MSR_LSTAR, 1 << 62)
        entry_addr = self.unslid(lstar.value) if lstar is not None else find_entry(image)
        if entry_addr is None:
            self._entry_error = "no LSTAR value in the trace and no entry symbol in the kernel"
            return None, self._fields, self._entry_error
        try:
            layout, _size, _from_dwarf = ptregs_layout(image)
            self._fields = tuple(name for name, _offset, _size in layout)
            self._entry = analyze_syscall_entry(image, entry_addr)
        except ImageError as exc:
            self._entry_error = str(exc)
        return self._entry, self._fields, self._entry_error

    def checker(self) -> Any:
        """A `tracer.analysis.checks.Checker` with what the kernel image says (as `tracer
        check` builds it); opens the kernel, so call it off the UI thread."""
        from tracer.analysis.checks import Checker
        from tracer.analysis.kernel_facts import kernel_facts

        facts, symbolize = kernel_facts(self.kernel, dict(self.meta))
        return Checker(facts, symbolize)

    def program_path(self, name: str) -> Path | None:
        """The program file the trace's meta lists under this process name."""
        for text in self.meta.get("programs", "").split():
            if os.path.basename(text) == name:
                return self._resolve(text)
        return None

    def console(self) -> str | None:
        return self.meta.get("console")
