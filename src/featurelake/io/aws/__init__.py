"""AWS adapters (boto3): S3 clients, raw objects in the raw bucket, CloudFormation stack outputs."""
