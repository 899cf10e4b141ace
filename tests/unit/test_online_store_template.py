"""infra/cloudformation/online-store.yaml: tables on demand with SSE-KMS and PITR, least-privilege roles.

Uses the IAM evaluator of tests/unit/test_infra_templates.py over the template's own policies.
Table names come from the settings' prefix and the feature sets in code, so a renamed table or a
feature set without a table breaks these tests, not production.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from featurelake.core.catalog import discover
from featurelake.io.delta.registry import REGISTRY_PATH
from featurelake.settings import Settings
from tests.unit.test_infra_templates import ACCOUNT, REGION, ROOT, Resolver, allows, load, policy_statements

TEMPLATE = ROOT / "infra" / "cloudformation" / "online-store.yaml"
PREFIX = Settings().online_table_prefix
LAKE = "arn:aws:s3:::lake-bucket"
VIA_DYNAMODB = {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}
VIA_S3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
ONLINE_KEY = "arn:aws:fake:::OnlineKey/Arn"
DATA_KEY = "import:featurelake-prod-KmsKeyArn"
FEATURE_SETS = list(discover("features").feature_sets.values())


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def statements(logical_id: str) -> list[Mapping[str, Any]]:
    template = load(TEMPLATE)
    parameters = {"LakeBucketName": "lake-bucket", "DataStackName": "featurelake-prod"}
    return list(policy_statements(template, logical_id, Resolver(template, parameters, {})))


def tables() -> dict[str, dict[str, Any]]:
    template = load(TEMPLATE)
    resolver = Resolver(template, {}, {})
    return {
        resolver(resource["Properties"]["TableName"]): resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def test_every_feature_set_version_has_its_table_named_as_the_store_names_it() -> None:
    assert sorted(tables()) == sorted(f"{PREFIX}-{spec.name}-v{spec.version}" for spec in FEATURE_SETS)


@pytest.mark.parametrize("name", sorted(tables()))
def test_tables_are_on_demand_encrypted_with_the_online_key_and_recoverable(name: str) -> None:
    resource = tables()[name]
    properties = resource["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "entity", "KeyType": "HASH"}]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": ["OnlineKey", "Arn"]},
    }
    assert resource["DeletionPolicy"] == "Retain"


WRITES = ("dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")


def test_serving_reads_the_online_tables_and_writes_nothing() -> None:
    s = statements("ServingRole")
    table = table_arn(f"{PREFIX}-customer_txn-v1")
    for action in ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"):
        assert allows(s, action, table), action
    for action in (*WRITES, "dynamodb:Scan", "dynamodb:CreateTable", "dynamodb:DeleteTable"):
        assert not allows(s, action, table), action
    assert not allows(s, "dynamodb:GetItem", table_arn("another-app-table"))
    assert allows(s, "kms:Decrypt", ONLINE_KEY, **VIA_DYNAMODB)
    assert not allows(s, "kms:Decrypt", ONLINE_KEY)
    assert allows(s, "s3:GetObject", f"{LAKE}/{REGISTRY_PATH}/_delta_log/00000000000000000000.json")
    assert not allows(s, "s3:GetObject", f"{LAKE}/features/customer_txn/v1/part-0.parquet")
    assert not any(allows(s, "s3:PutObject", f"{LAKE}/{p}/x") for p in ("features", REGISTRY_PATH))


def test_materialize_reads_features_and_writes_only_online_tables() -> None:
    s = statements("MaterializeTaskRole")
    table = table_arn(f"{PREFIX}-merchant_txn-v1")
    for action in ("dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:Scan"):
        assert allows(s, action, table), action
    for action in ("dynamodb:DeleteTable", "dynamodb:CreateTable", "dynamodb:PutItem"):
        assert not allows(s, action, table_arn("another-app-table")), action
    assert not allows(s, "dynamodb:DeleteTable", table)
    assert allows(s, "s3:GetObject", f"{LAKE}/features/customer_txn/v1/part-0.parquet")
    assert allows(s, "s3:ListBucket", LAKE, **{"s3:prefix": "features/customer_txn/v1/_delta_log/"})
    assert not allows(s, "s3:ListBucket", LAKE)
    assert not allows(s, "s3:PutObject", f"{LAKE}/features/customer_txn/v1/part-0.parquet")
    assert not allows(s, "s3:GetObject", f"{LAKE}/bronze/transactions/part-0.parquet")
    assert allows(s, "kms:GenerateDataKey", ONLINE_KEY, **VIA_DYNAMODB)
    assert allows(s, "kms:Decrypt", DATA_KEY, **VIA_S3)
    assert not allows(s, "kms:Decrypt", DATA_KEY)


def test_the_function_url_requires_iam_auth_and_the_lambda_runs_the_shared_handler() -> None:
    resources = load(TEMPLATE)["Resources"]
    assert resources["ServingUrl"]["Properties"]["AuthType"] == "AWS_IAM"
    function = resources["ServingFunction"]["Properties"]
    assert function["ImageConfig"]["Command"] == ["featurelake.cli.serving.lambda_handler"]
    assert function["Role"] == {"Fn::GetAtt": ["ServingRole", "Arn"]}
    variables = function["Environment"]["Variables"]
    assert {"FEATURELAKE_ONLINE_TABLE_PREFIX", "FEATURELAKE_SERVE_MAX_ENTITIES", "FEATURELAKE_LAKE_URI"} <= set(
        variables
    )
