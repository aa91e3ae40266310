"""Where the row pipeline runs: in this process (``--executor local``, :mod:`attgan_batch.pipeline`)
or spread over a Ray cluster (``--executor ray``, :mod:`attgan_batch.executors.ray_executor`).
Importing this package imports nothing heavy: Ray is an optional extra."""

EXECUTORS = ("local", "ray")
