"""One module per AWS service, each exporting ``METER``; loaded by ``aws.registry`` when a client is created."""
