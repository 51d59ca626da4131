"""Grading on a Dask (`distributed`) cluster: `grade --scheduler local:N|tcp://...`.

`client` is the trusted side (the cluster executor that the CLI hands to the batch),
`worker_plugin` the Dask worker side (the plugin that makes each worker process a kit grading
worker, and the task), `course_bundle` what the client ships to the workers.

`dask worker --preload autograder.distributed` runs this package's `dask_setup` when a worker
starts (see `worker_plugin.dask_setup`).
"""

from autograder.distributed.worker_plugin import dask_setup

__all__ = ["dask_setup"]
