"""The informer cache, one stage per module (as client-go's ``tools/cache``).

- :mod:`.reflector` — list, then watch from the list's resourceVersion; relist on 410;
- :mod:`.delta_fifo` — the queue of changes per object between reflector and informer;
- :mod:`.indexer` — the local store of objects, by key and by named indexes;
- :mod:`.informer` — pops deltas into the indexer and fans them out to event handlers.
"""

from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown, Delta, DeltaFIFO, DeltaType
from pinnace.runtime.cache.indexer import NAMESPACE_INDEX, Indexer, object_key

__all__ = [
    "NAMESPACE_INDEX",
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "Indexer",
    "object_key",
]
