"""Passwords and PINs, TOTP, tokens, sessions, headers and the one access policy."""
