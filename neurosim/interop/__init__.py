"""Exchange networks with other simulators: Brian2, snnTorch and NIR.

Each converter imports its library lazily and names the extra to install when it is missing.
"""
