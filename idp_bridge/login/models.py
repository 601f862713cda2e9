"""Login sessions: one QR code shown to one browser."""
