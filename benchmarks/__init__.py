"""Speed and memory benchmarks of neurosim against other spiking-network libraries.

``python -m benchmarks`` runs every case of the suite (``benchmarks.cases``) once per
library, each in its own subprocess (``benchmarks.worker``), and writes ``results.json``
and ``results.md`` (``benchmarks.report``). Peers are imported lazily inside their builder
(``benchmarks.peers``); a library that is not installed gives a row saying so.
See ``benchmarks/README.md`` for the method and the last measured table.
"""
