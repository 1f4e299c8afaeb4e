"""Operations: traces, metrics, health probes and logs (docs/operations.md, the operator\x27s guide)."""
