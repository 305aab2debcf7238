"""Proxy pipeline: Blue Coat ProxySG access logs -> the `proxy` table.

bluecoat.py is the reference parser (pure Python, the contract for one line), job.py the
Spark Structured Streaming job that applies the same contract inside the JVM, submit.py
builds its spark-submit command line, log_writer.py writes realistic logs for tests and demos.
"""
