"""What the office reads and publishes: the ledger (台账) read, imported and exported, the
progress figures (整改进展), the Markdown/HTML layout, the monthly briefing and the public
disclosure list."""
