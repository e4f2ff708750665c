"""Benchmarks of leadflow: figures printed, nothing asserted (`python -m benchmarks …` from the
repository root, `make bench`; `leadflow bench …` is their old name).

Not part of the installed package: they live in the source checkout and use the local platform
(scratch databases on the server under test). Their tests carry the `bench` marker and are not
part of `make test`.
"""
