"""Fused GPU kernels. Each kernel lives beside a readable PyTorch reference in ``backend`` and
has a parity test; the reference runs everywhere, the fused path only where CUDA is present."""
