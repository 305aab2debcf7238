module spot-ingest/dnsdecode

go 1.19
