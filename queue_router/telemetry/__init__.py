"""What queue-router tells operators about itself, beside the receipts it returns.

``metrics``: the Prometheus metrics (one source of truth, the default registry);
``metrics_server``: the ``--metrics-port`` endpoint serving them with the Temporal SDK's;
``logsummary``: a repeated warning as one line per interval with its count;
``sdk_logs``: the Temporal SDK core's log lines through Python ``logging``.
"""
