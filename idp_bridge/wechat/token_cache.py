"""The WeChat access-token cache shared by all workers (SPEC §7.4)."""
