"""Benchmarks and the soak, run by hand (`python -m tracer.bench.soak`, `.store`, `.tui`) or
through `tracer bench` (`stops`); `synthetic` builds bulk traces for them and for the tests.

Not part of the product: only `tracer.commands.bench` and these modules import it. It may
import anything in the product.
"""
