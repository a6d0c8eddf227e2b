"""sipguard: a security-focused SIP edge firewall and proxy."""

__version__ = "0.1.0"
