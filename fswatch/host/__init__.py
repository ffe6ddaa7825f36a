"""The host: files, locks, control files, systemd, the journal, the supervisor — what touches this machine."""
