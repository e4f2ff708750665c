"""Benchmarks of leadflow: figures printed, nothing asserted (`leadflow bench …`, `make bench`).

Not part of the installed package: they live in the source checkout and use the local platform
(scratch databases on the server under test). Their tests carry the `bench` marker and are not
part of `make test`.
"""
