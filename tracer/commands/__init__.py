"""One module per `tracer` subcommand (`add_parser` and `run`), wired by `tracer.cli`; `common`
holds the exit codes, one-line errors and signal handling they share.

The top layer: it may import anything in the product (and `tracer.bench`, for `tracer bench`);
nothing but `tracer.cli` and these modules imports it.
"""
