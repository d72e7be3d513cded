"""sgkit: scatter-gather inter-domain I/O and address-bound event channels on real Xen."""

__version__ = "0.1.0"
