"""Metering boto3/botocore calls: one meter per AWS service behind one interface, hooked through botocore's events."""
