"""courselib: the library the lab notebooks import (devices, seeding, datasets, metrics, plots)."""

from courselib.device import DEVICE_ENV, get_device
from courselib.seeding import seed_everything

__version__ = "0.1.0"
__all__ = ["DEVICE_ENV", "get_device", "seed_everything", "__version__"]
