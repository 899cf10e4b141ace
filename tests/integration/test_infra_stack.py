"""Deploy infra/cloudformation into the local AWS emulator (the session's moto server), then ingest and build in it.

What moto's CloudFormation does with these templates (moto 5.2), and what this test does about it:

* It creates the KMS key (rotation honoured), its alias, the three buckets (default encryption and
  tags only), the ECS cluster, the log group, the ECR repository, the IAM roles with their inline
  policies and the managed dispatch policy; for forwarder.yaml the SQS queue, log group, role,
  Lambda function, EventBridge rule and permission; for worker.yaml the roles, task definition
  and service.
* It skips, with a warning, resource types it does not implement: ``AWS::S3::BucketPolicy``,
  ``AWS::SecretsManager::Secret``, ``AWS::SQS::QueuePolicy``, ``AWS::Lambda::EventInvokeConfig``.
* It ignores these ``AWS::S3::Bucket`` properties: versioning, public access block, ownership
  controls, access logging, EventBridge notifications, lifecycle rules and S3 Bucket Keys; and
  ``ClusterSettings`` (Container Insights) of ``AWS::ECS::Cluster``, which moto cannot set at all
  (no UpdateClusterSettings): the test asserts moto's "disabled" so that a fix shows up. Likewise
  ``KmsKeyId`` of ``AWS::Logs::LogGroup`` (moto reads the API's ``kmsKeyId`` casing) and
  ``DeadLetterConfig`` of ``AWS::Lambda::Function``.
* Its S3 evaluates bucket policies without a request context, so every conditional statement acts
  as a Deny: the flow test shows that and detaches the policies before running ingest and build.
* Its ``AWS::KMS::Key`` model reads ``Tags`` in the KMS API's shape (TagKey/TagValue), not
  CloudFormation's (Key/Value), and fails on ours.

So, test-only and nowhere else: the key's Tags are removed from the template before it is sent, and
after CREATE_COMPLETE :func:`complete_what_moto_ignores` applies the bucket policies, the bucket
properties above (except lifecycle and Bucket Keys) and the PII key secret through the S3 and
Secrets Manager APIs, with the values the template declares, resolved against the stack's real resources. The test
asserts exactly which resources moto created, so a moto upgrade that starts (or stops) supporting
one of them shows up here. Moto does not enforce IAM or bucket policies; what the roles may do is
checked by tests/unit/test_infra_templates.py, and here the keys the flows actually wrote are
checked against the deployed role policies.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import json
import re
import secrets
import string
import uuid
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cfnlint.decode import cfn_yaml

from featurelake.core.naming import bronze_path
from featurelake.io.aws.s3 import s3_client
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings, get_settings
from features.customer_txn import CUSTOMER_TXN
from flows.build_features import build_features
from flows.ingest import ingest
from tests.conftest import isolated_settings
from tests.integration.helpers import DATA, demo_objects

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "infra" / "cloudformation"
ENVIRONMENT = "dev"
UNSUPPORTED_BY_MOTO = {
    "AWS::S3::BucketPolicy",
    "AWS::SecretsManager::Secret",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::EventInvokeConfig",
}


def template(name: str) -> dict[str, Any]:
    """A template as plain JSON data (cfn-lint's decoder turns short-form intrinsics into Fn::*)."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATES / name))))


def for_moto(body: dict[str, Any]) -> dict[str, Any]:
    """The test-only transformation: drop Tags from KMS keys (moto's CFN model expects TagKey/TagValue)."""
    body = json.loads(json.dumps(body))
    for resource in body["Resources"].values():
        if resource["Type"] == "AWS::KMS::Key":
            resource["Properties"].pop("Tags", None)
    return body


def deploy(cf: Any, name: str, body: dict[str, Any], parameters: Mapping[str, str]) -> dict[str, str]:
    """create_stack, wait for CREATE_COMPLETE, return the outputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto warns for every unsupported type, asserted separately
        cf.create_stack(
            StackName=name,
            TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        cf.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def created_resources(cf: Any, name: str) -> dict[str, str]:
    """Logical id -> physical id of what the stack really created."""
    summaries = cf.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries if s.get("LogicalResourceId")}


def expected_created(body: dict[str, Any], conditions: Mapping[str, bool]) -> set[str]:
    return {
        logical_id
        for logical_id, resource in body["Resources"].items()
        if resource["Type"] not in UNSUPPORTED_BY_MOTO and conditions.get(resource.get("Condition", ""), True)
    }


class Resolve:
    """Resolves a template fragment against a deployed stack (for what moto did not create)."""

    def __init__(self, body: dict[str, Any], physical: Mapping[str, str], parameters: Mapping[str, str]) -> None:
        self.types = {k: v["Type"] for k, v in body["Resources"].items()}
        defaults = {k: str(v.get("Default", "")) for k, v in body.get("Parameters", {}).items()}
        self.refs = {**defaults, **parameters, **physical, "AWS::Region": "us-east-1", "AWS::Partition": "aws"}
        self.refs["AWS::AccountId"] = "123456789012"
        self.physical = physical
        self.conditions = {name: self._parameter_given(c) for name, c in body.get("Conditions", {}).items()}

    def _parameter_given(self, condition: dict[str, Any]) -> bool:
        """The templates' only condition form: ``!Not [!Equals [!Ref P, ""]]``."""
        ((equals,),) = [condition["Fn::Not"]]
        reference, empty = equals["Fn::Equals"]
        assert empty == ""
        return bool(self.refs[reference["Ref"]])

    def arn(self, logical: str) -> str:
        if self.types[logical] == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{self.physical[logical]}"
        if self.types[logical] == "AWS::KMS::Key":
            return f"arn:aws:kms:us-east-1:123456789012:key/{self.physical[logical]}"
        raise AssertionError(f"no ARN rule for {logical}")

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [r for r in map(self, node) if r is not None]
        if not isinstance(node, dict):
            return node
        if list(node) == ["Ref"]:
            return None if node["Ref"] == "AWS::NoValue" else self.refs[node["Ref"]]
        if list(node) == ["Fn::GetAtt"]:
            return self.arn(node["Fn::GetAtt"][0])
        if list(node) == ["Fn::Sub"]:
            return re.sub(
                r"\$\{([\w:]+)(\.Arn)?\}", lambda m: self.arn(m[1]) if m[2] else self.refs[m[1]], node["Fn::Sub"]
            )
        if list(node) == ["Fn::If"]:
            name, yes, no = node["Fn::If"]
            return self(yes if self.conditions[name] else no)
        return {k: v for k, v in ((k, self(v)) for k, v in node.items()) if v is not None}


def complete_what_moto_ignores(body: dict[str, Any], resolve: Resolve, session: boto3.Session, endpoint: str) -> None:
    """Apply, through the service APIs, the template's declarations moto's CloudFormation skipped."""
    s3 = session.client("s3", endpoint_url=endpoint)
    order = {  # bucket logging needs the target bucket's policy first
        "AWS::S3::BucketPolicy": 0,
        "AWS::SecretsManager::Secret": 0,
        "AWS::S3::Bucket": 1,
    }
    resources = sorted(
        ((k, v) for k, v in body["Resources"].items() if v["Type"] in order), key=lambda kv: order[kv[1]["Type"]]
    )
    for logical_id, resource in resources:
        props = resolve(resource["Properties"])
        if resource["Type"] == "AWS::S3::Bucket":
            bucket = resolve.physical[logical_id]
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"])
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
            if "LoggingConfiguration" in props:
                logging = props["LoggingConfiguration"]
                s3.put_bucket_logging(
                    Bucket=bucket,
                    BucketLoggingStatus={
                        "LoggingEnabled": {
                            "TargetBucket": logging["DestinationBucketName"],
                            "TargetPrefix": logging["LogFilePrefix"],
                        }
                    },
                )
            if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                s3.put_bucket_notification_configuration(
                    Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
                )
        elif resource["Type"] == "AWS::S3::BucketPolicy":
            s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
        elif resource["Type"] == "AWS::SecretsManager::Secret":
            generate = props["GenerateSecretString"]
            alphabet = string.ascii_letters + string.digits  # ExcludePunctuation, no space
            assert generate == {"PasswordLength": 64, "ExcludePunctuation": True, "IncludeSpace": False}
            value = "".join(secrets.choice(alphabet) for _ in range(generate["PasswordLength"]))
            session.client("secretsmanager", endpoint_url=endpoint).create_secret(
                Name=props["Name"], KmsKeyId=props["KmsKeyId"], SecretString=value
            )


# --- the deployed main stack, shared by the tests of this module ------------------------------------------


class Deployed:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.session = boto3.Session(region_name="us-east-1")
        self.cf = self.session.client("cloudformation", endpoint_url=endpoint)
        self.s3 = self.session.client("s3", endpoint_url=endpoint)
        self.name = f"featurelake-{uuid.uuid4().hex[:8]}"
        self.body = template("featurelake.yaml")
        self.parameters = {"Environment": ENVIRONMENT}
        self.outputs = deploy(self.cf, self.name, for_moto(self.body), self.parameters)
        self.physical = created_resources(self.cf, self.name)
        complete_what_moto_ignores(
            self.body, Resolve(self.body, self.physical, self.parameters), self.session, endpoint
        )


@pytest.fixture(scope="module")
def stack(s3_endpoint: str) -> Deployed:
    return Deployed(s3_endpoint)


def test_moto_creates_every_supported_resource_and_the_outputs(stack: Deployed) -> None:
    conditions = {"HasKeyAdmin": False, "HasBreakGlass": False, "HasPrefectApiKeySecret": False}
    assert set(stack.physical) == expected_created(stack.body, conditions)
    skipped = {k for k, v in stack.body["Resources"].items() if v["Type"] in UNSUPPORTED_BY_MOTO}
    assert skipped == {"AccessLogBucketPolicy", "RawBucketPolicy", "LakeBucketPolicy", "PiiKeySecret"}
    assert set(stack.outputs) == set(stack.body["Outputs"])
    assert stack.outputs["PiiKeySecretName"] == f"featurelake/{ENVIRONMENT}/pii-key"
    assert stack.outputs["LogGroupName"] == f"/featurelake/{ENVIRONMENT}/flows"
    exports = {e["Name"]: e["Value"] for e in stack.cf.list_exports()["Exports"]}
    for name, value in stack.outputs.items():
        if "Export" in stack.body["Outputs"][name]:
            assert exports[f"{stack.name}-{name}"] == value


def test_buckets_key_cluster_and_logs_are_configured_as_declared(stack: Deployed) -> None:
    s3, key = stack.s3, stack.outputs["KmsKeyArn"]
    kms = stack.session.client("kms", endpoint_url=stack.endpoint)
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
    policy = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    policy = json.loads(policy) if isinstance(policy, str) else policy  # moto keeps CloudFormation's dict
    assert {s["Sid"] for s in policy["Statement"]} == {
        s["Sid"] for s in stack.body["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    }
    log_bucket = stack.outputs["AccessLogBucketName"]
    for output, policy_id in (("RawBucketName", "RawBucketPolicy"), ("LakeBucketName", "LakeBucketPolicy")):
        bucket = stack.outputs[output]
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert set(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()) == {True}
        assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]["TargetBucket"] == log_bucket
        declared = stack.body["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]
        statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert [s["Sid"] for s in statements] == [s["Sid"] for s in declared]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": False}} for s in statements)
    raw_policy = json.loads(s3.get_bucket_policy(Bucket=stack.outputs["RawBucketName"])["Policy"])["Statement"]
    deny_delete = next(s for s in raw_policy if s["Sid"] == "DenyDeleteExceptBreakGlass")
    assert "Condition" not in deny_delete  # no break-glass principal given: nobody deletes
    # Not read back: moto stores the EventBridge notification flag but GetBucketNotificationConfiguration
    # omits it; tests/unit/test_infra_templates.py checks the declaration.
    ecs = stack.session.client("ecs", endpoint_url=stack.endpoint)
    (cluster,) = ecs.describe_clusters(clusters=[stack.outputs["ClusterArn"]], include=["SETTINGS"])["clusters"]
    declared = stack.body["Resources"]["Cluster"]["Properties"]["ClusterSettings"]
    assert declared == [{"Name": "containerInsights", "Value": "enabled"}]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "disabled"}]  # moto ignores the setting
    logs = stack.session.client("logs", endpoint_url=stack.endpoint)
    (group,) = logs.describe_log_groups(logGroupNamePrefix=stack.outputs["LogGroupName"])["logGroups"]
    assert group["retentionInDays"] == 90
    assert stack.body["Resources"]["FlowLogGroup"]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert "kmsKeyId" not in group  # moto's CFN model reads kmsKeyId (API casing), so it drops KmsKeyId


def test_ingest_and_build_run_against_the_stacks_buckets_key_and_secret(
    stack: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_settings(stack.endpoint, tmp_path, monkeypatch)  # endpoint, MLflow store, state dir
    raw, lake, key = stack.outputs["RawBucketName"], stack.outputs["LakeBucketName"], stack.outputs["KmsKeyArn"]
    for name, value in {
        "RAW_BUCKET": raw,
        "LAKE_URI": f"s3://{lake}",
        "SSE": "aws:kms",
        "KMS_KEY_ID": key,
        "PII_KEY_SOURCE": "aws-secrets-manager",
        "PII_KEY_NAME": stack.outputs["PiiKeySecretName"],
    }.items():
        monkeypatch.setenv(f"FEATURELAKE_{name}", value)
    get_settings.cache_clear()
    settings = Settings()
    client = s3_client(settings)
    # moto evaluates bucket policies without a request context: every statement with a Condition
    # counts as a Deny (moto/iam/access_control.py, IAMPolicyStatement._check_conditions), so even a
    # compliant PUT is refused while the policies are attached. They are checked by the read-back
    # test above and by tests/unit/test_infra_templates.py; here they are detached for the flows.
    with pytest.raises(ClientError, match="403"):
        client.put_object(Bucket=raw, Key="probe", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    for bucket in (raw, lake):
        client.delete_bucket_policy(Bucket=bucket)
    for object_key, body in demo_objects().items():  # as a producer must on AWS: SSE-KMS requested
        client.put_object(Bucket=raw, Key=object_key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key)

    results = {r["source"]: r for r in ingest()}
    ingested = lake_keys(settings)
    summary = build_features("customer_txn", 1)
    built = lake_keys(settings) - ingested
    get_settings.cache_clear()

    store = DeltaStore(settings)
    assert results["transactions"]["rows_accepted"] == DATA.transactions.height
    assert store.read(bronze_path("transactions")).height == DATA.transactions.height
    expected_rows = DATA.transactions.select("customer_id", "event_time").unique().height
    assert store.read(CUSTOMER_TXN.table_path).height == expected_rows == summary["row_count"]
    assert summary["table_uri"] == f"s3://{lake}/{CUSTOMER_TXN.table_path}"
    for object_key in ingested | built:
        head = client.head_object(Bucket=lake, Key=object_key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key), object_key
    # The deployed role policies allow every key each flow wrote, and the writers deleted nothing.
    assert_role_may_put(stack, "IngestTaskRoleArn", lake, ingested)
    assert_role_may_put(stack, "BuildTaskRoleArn", lake, built)
    assert not client.list_object_versions(Bucket=lake).get("DeleteMarkers")


def lake_keys(settings: Settings) -> set[str]:
    paginator = s3_client(settings).get_paginator("list_objects_v2")
    return {o["Key"] for page in paginator.paginate(Bucket=settings.lake_bucket) for o in page.get("Contents", [])}


def assert_role_may_put(stack: Deployed, output: str, bucket: str, keys: set[str]) -> None:
    """Every key is covered by an Allow of s3:PutObject in the role as deployed (read back from IAM)."""
    assert keys
    iam = stack.session.client("iam", endpoint_url=stack.endpoint)
    role = stack.outputs[output].rsplit("/", 1)[1]
    documents = [
        iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]
    # moto's CFN model stores the inline policy as the str() of the template's dict (Python literal).
    statements = [s for d in documents for s in (ast.literal_eval(d) if isinstance(d, str) else d)["Statement"]]
    puts = [s for s in statements if s["Effect"] == "Allow" and "s3:PutObject" in _list(s["Action"])]
    denies = [s for s in statements if s["Effect"] == "Deny" and "s3:PutObject" in _list(s["Action"])]
    for key in keys:
        arn = f"arn:aws:s3:::{bucket}/{key}"
        assert any(fnmatch.fnmatchcase(arn, r) for s in puts for r in _list(s["Resource"])), (role, key)
        assert not any(fnmatch.fnmatchcase(arn, r) for s in denies for r in _list(s["Resource"])), (role, key)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the other two templates deploy in order on top of the main stack ----------------------------------------


def test_forwarder_and_worker_stacks_deploy_on_the_main_stacks_exports(stack: Deployed) -> None:
    code_bucket = f"featurelake-code-{uuid.uuid4().hex[:8]}"
    stack.s3.create_bucket(Bucket=code_bucket)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(ROOT / "infra" / "forwarder" / "handler.py", "handler.py")
    stack.s3.put_object(Bucket=code_bucket, Key="featurelake/forwarder.zip", Body=archive.getvalue())

    forwarder = template("forwarder.yaml")
    forwarder_name = f"{stack.name}-forwarder"
    parameters = {
        "DataStackName": stack.name,
        "Environment": ENVIRONMENT,
        "ForwarderCodeS3Bucket": code_bucket,
        "PrefectApiUrl": "https://prefect.example.com/api",
    }
    outputs = deploy(stack.cf, forwarder_name, for_moto(forwarder), parameters)
    assert set(created_resources(stack.cf, forwarder_name)) == expected_created(forwarder, {})
    lam = stack.session.client("lambda", endpoint_url=stack.endpoint)
    function = lam.get_function(FunctionName=outputs["ForwarderFunctionArn"])["Configuration"]
    assert function["Environment"]["Variables"] == {
        "PREFECT_API_URL": "https://prefect.example.com/api",
        "FORWARDER_S3_KEY_ENCODING": "url",
    }
    assert function["Handler"] == "handler.handler"
    assert function["Timeout"] == 60
    assert "DeadLetterConfig" not in function  # moto's CFN Lambda model drops it (declared in the template)
    events = stack.session.client("events", endpoint_url=stack.endpoint)
    rule = events.describe_rule(Name=f"featurelake-{ENVIRONMENT}-raw-object-created")
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["bucket"]["name"] == [stack.outputs["RawBucketName"]]
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == outputs["ForwarderFunctionArn"]

    worker = template("worker.yaml")
    worker_name = f"{stack.name}-worker"
    deploy(
        stack.cf,
        worker_name,
        for_moto(worker),
        {
            "DataStackName": stack.name,
            "Environment": ENVIRONMENT,
            "ImageUri": f"{stack.outputs['ImageRepositoryUri']}:test",
            "PrefectApiUrl": "http://prefect.internal:4200/api",
            "SubnetIds": "subnet-12345678",
            "SecurityGroupIds": "sg-12345678",
        },
    )
    assert set(created_resources(stack.cf, worker_name)) == expected_created(worker, {})
    ecs = stack.session.client("ecs", endpoint_url=stack.endpoint)
    (service,) = ecs.describe_services(
        cluster=stack.outputs["ClusterArn"], services=[f"featurelake-{ENVIRONMENT}-worker"]
    )["services"]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    assert container["command"] == [
        "prefect",
        "worker",
        "start",
        "--pool",
        "featurelake-ecs",
        "--type",
        "ecs",
        "--with-healthcheck",
    ]
    assert container["image"] == f"{stack.outputs['ImageRepositoryUri']}:test"


def test_staging_deploys_to_an_ecs_pool_with_each_flows_task_role_from_the_stack(
    stack: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`featurelake deploy --env staging --stack NAME`: prefect deploy --all onto an ECS pool."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.flows import load_flow_from_entrypoint
    from prefect_aws.workers.ecs_worker import ECSWorker
    from typer.testing import CliRunner

    from featurelake.cli.main import app
    from featurelake.deploy.prefect_file import load_deployment_specs

    isolated_settings(stack.endpoint, tmp_path, monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", stack.endpoint)  # boto3's own per-service setting
    image = f"{stack.outputs['ImageRepositoryUri']}:0123abc"
    monkeypatch.setenv("FEATURELAKE_IMAGE", image)
    with get_client(sync_client=True) as client:
        template = ECSWorker.get_default_base_job_template()
        client.create_work_pool(WorkPoolCreate(name="featurelake-ecs-staging", type="ecs", base_job_template=template))

    result = CliRunner().invoke(app, ["deploy", "--env", "staging", "--stack", stack.name])

    assert result.exit_code == 0, result.output
    roles = {
        "watch": "WatchTaskRoleArn",
        "ingest": "IngestTaskRoleArn",
        "build": "BuildTaskRoleArn",
        "retrain": "RetrainTaskRoleArn",
        "score": "RetrainTaskRoleArn",  # loads the champion and reads features as retrain does
        "materialize": "BuildTaskRoleArn",  # its own role is in the online-store stack, not wired into deploy yet
        "maintenance": "MaintenanceTaskRoleArn",
        "erase": "EraseTaskRoleArn",
        "freshness": "BuildTaskRoleArn",  # reads feature tables' history, as builds may
    }
    with get_client(sync_client=True) as client:
        for spec in load_deployment_specs():
            flow: Any = load_flow_from_entrypoint(spec["entrypoint"])
            deployment = client.read_deployment_by_name(f"{flow.name}/{spec['name']}")
            assert deployment.work_pool_name == "featurelake-ecs-staging"
            kind = next(t for t in spec["tags"] if t != "featurelake")
            assert deployment.job_variables["task_role_arn"] == stack.outputs[roles[kind]], spec["name"]
            assert deployment.job_variables["image"] == image
            if kind == "retrain":
                assert deployment.job_variables["memory"] == 8192
            client.delete_deployment(deployment.id)
        client.delete_work_pool("featurelake-ecs-staging")
