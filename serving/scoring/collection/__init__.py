"""Model data collection (``ModelDataCollector``): the layout of collected records on the
default datastore (:mod:`.layout`, standard library only, shared with the readers) and the
buffered background writer that runs inside scoring processes (:mod:`.writer`)."""
