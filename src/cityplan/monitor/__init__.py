"""Implementation supervision (docs/monitor.md): indicators judged against their pace and the
profile's thresholds (``monitor.yaml``), and what changed between two builds of the one map."""
