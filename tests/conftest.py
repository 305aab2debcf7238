"""Settings for every test session.

The Spark jobs the tests start (spark-submit, the pyspark session) compile with HotSpot's C1
alone: their volumes are small, and C2 compilation was most of the CPU every JVM used in
make test on 2 cores (the stack's own services do the same: services/supervise.py
JVM_COMMON). A job's results do not depend on it; the pipelines' own Spark jobs (make bench's
too) keep the JVM's defaults.
"""
from __future__ import annotations

import os

from services.supervise import C1_ONLY

os.environ.setdefault("SPARK_SUBMIT_OPTS", C1_ONLY)
