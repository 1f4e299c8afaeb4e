"""Operations: traces, metrics, health probes and logs (README, "Operator\x27s guide")."""
