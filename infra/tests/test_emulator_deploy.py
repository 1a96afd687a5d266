"""Deploys the stack into the AWS emulator's CloudFormation (moto server), then runs the
real `worker` and `api` binaries with the configuration the stack gave them.

moto's CloudFormation has no SAM transform, so the template is expanded first, as
`sam deploy` would. Resource types moto cannot create are taken out and listed (and must
match UNSUPPORTED below, so a change either way is noticed); references to them are
replaced by stand-ins this test creates through the services' own APIs where the
processes need them (the secrets, the schedule group).

Needs the binaries built (`cargo build --workspace`, which scripts/test.sh does first).

    .venv/bin/python -m unittest infra/tests/test_emulator_deploy.py -v
"""

import ast
import io
import ipaddress
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.request
import warnings
import zipfile

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "tools"))
sys.path.insert(0, str(ROOT / "infra" / "tests"))
from sam_translate import translate  # noqa: E402
from test_template import as_list, statements  # noqa: E402

REGION = "eu-west-1"
STACK = "operator-test"

# What moto 5.2.5 cannot create, and what each would have done in AWS.
UNSUPPORTED = {
    "AWS::ApplicationAutoScaling::ScalableTarget": "worker autoscaling bounds",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "worker autoscaling on queued jobs per task",
    "AWS::CloudFront::Distribution": "the custom domain (only when DomainName is set)",
    "AWS::CloudWatch::Alarm": "alarms on dead letters, worker errors, API errors",
    "AWS::EC2::SecurityGroupEgress": "control plane -> instances on 8080",
    "AWS::Lambda::Url": "the API's Function URL (streamed)",
    "AWS::Logs::MetricFilter": "worker error count from the logs",
    "AWS::SNS::Subscription": "alarm e-mail (only when AlarmEmail is set)",
    "AWS::SQS::QueuePolicy": "lets the task-state rule send to the lifecycle queue",
    "AWS::Scheduler::ScheduleGroup": "the automations' schedule group (created here through the Scheduler API)",
    "AWS::SecretsManager::Secret": "token key and bootstrap key secrets (created here through the Secrets Manager API)",
}


PARAMETERS = {"ImageTag": "v1"}


def condition(tpl: dict, expr) -> bool:
    """Evaluates a template condition with PARAMETERS over the defaults."""
    if isinstance(expr, dict):
        (fn, args), = expr.items()
        if fn == "Condition":
            return condition(tpl, tpl["Conditions"][args])
        if fn == "Fn::Not":
            return not condition(tpl, args[0])
        if fn == "Fn::And":
            return all(condition(tpl, a) for a in args)
        if fn == "Fn::Or":
            return any(condition(tpl, a) for a in args)
        if fn == "Fn::Equals":
            return value(tpl, args[0]) == value(tpl, args[1])
    raise ValueError(f"unsupported condition {expr!r}")


def value(tpl: dict, expr):
    if isinstance(expr, dict) and "Ref" in expr:
        name = expr["Ref"]
        return str(PARAMETERS.get(name, tpl["Parameters"][name].get("Default")))
    return str(expr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_supported_types() -> set:
    """The resource types this moto version's CloudFormation can create."""
    warnings.simplefilter("ignore")
    import moto.backends as backends
    from moto.backend_index import backend_url_patterns
    from moto.cloudformation.parsing import get_model_map

    for name, _ in backend_url_patterns:
        try:
            backends.get_backend(name)
        except Exception:  # a backend with optional dependencies missing: not ours
            pass
    get_model_map.cache_clear()
    return set(get_model_map())


def stand_in(tpl: dict, logical: str, attr: str | None) -> str:
    kind = tpl["Resources"][logical]["Type"]
    if kind == "AWS::SecretsManager::Secret":
        return f"{STACK}-{logical}"
    if kind == "AWS::Scheduler::ScheduleGroup":
        return STACK
    if kind == "AWS::Lambda::Url":
        return "https://function-url.invalid/"
    return f"unsupported-{logical}" + (f"-{attr}" if attr else "")


# Intrinsic functions moto's CloudFormation does not evaluate: computed here.
UNSUPPORTED_FUNCTIONS = {"Fn::Cidr"}


# Where moto differs from CloudFormation, and what this test does about it.
WORKAROUNDS = {
    "ECR repository names": "moto generates names with capitals, which ECR rejects; "
    "CloudFormation generates lowercase ones. Named here.",
    "Fn::If to AWS::NoValue in a list": "moto leaves a null item where CloudFormation drops it; "
    "read past here.",
    "IAM policy documents": "moto returns inline policies as Python literals; parsed here.",
    "Resources left out by a condition": "moto lists them as an entry with no name; skipped "
    "when reading the stack's resources.",
    "Container memory": "moto's RunTask sums container-level memory only; each container "
    "is given its task's memory here.",
}

# Properties moto's CloudFormation accepts but does not apply (so cannot be read back);
# the template checks in test_template.py and cfn-lint cover them.
IGNORED_PROPERTIES = {
    ("AWS::Lambda::Function", "Architectures"),
    ("AWS::DynamoDB::Table", "SSESpecification"),
    ("AWS::ECS::TaskDefinition", "RuntimePlatform"),
    ("AWS::ECS::TaskDefinition", "TaskRoleArn"),
    ("AWS::DynamoDB::Table", "TimeToLiveSpecification"),
    ("AWS::DynamoDB::Table", "PointInTimeRecoverySpecification"),
    ("AWS::ECS::Service", "LaunchType"),
    ("AWS::ECS::Service", "NetworkConfiguration"),
}


def work_around(tpl: dict) -> None:
    for name, r in tpl["Resources"].items():
        if r["Type"] == "AWS::ECR::Repository":
            r["Properties"]["RepositoryName"] = f"{STACK}-{name}".lower()
        if r["Type"] == "AWS::ECS::TaskDefinition":
            memory = r["Properties"]["Memory"]
            if isinstance(memory, dict):
                memory = tpl["Parameters"][memory["Ref"]]["Default"]
            for c in r["Properties"]["ContainerDefinitions"]:
                c.setdefault("Memory", int(memory))


def cidr(tpl: dict, args: list) -> list:
    block, count, bits = args
    if isinstance(block, dict):
        block = tpl["Parameters"][block["Ref"]]["Default"]
    prefix = 32 - int(bits)
    return [str(n) for n in ipaddress.ip_network(block).subnets(new_prefix=prefix)][: int(count)]


def without(tpl: dict, removed: set) -> dict:
    """`tpl` without `removed`, references to them replaced by stand-ins."""

    def walk(v):
        if isinstance(v, dict):
            if set(v) == {"Fn::Cidr"}:
                return cidr(tpl, v["Fn::Cidr"])
            if set(v) == {"Ref"} and v["Ref"] in removed:
                return stand_in(tpl, v["Ref"], None)
            if set(v) == {"Fn::GetAtt"}:
                target = v["Fn::GetAtt"]
                name, attr = target if isinstance(target, list) else target.split(".", 1)
                if name in removed:
                    return stand_in(tpl, name, attr)
            if set(v) == {"Fn::Sub"}:
                sub = v["Fn::Sub"]
                text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])

                def repl(m):
                    name, attr = m.group(1), m.group(2)
                    return stand_in(tpl, name, attr) if name in removed else m.group(0)

                text = re.sub(r"\$\{([A-Za-z0-9]+)(?:\.([A-Za-z]+))?\}", repl, text)
                return {"Fn::Sub": text if not variables else [text, walk(variables)]}
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    out = dict(tpl)
    out["Resources"] = {}
    for name, r in tpl["Resources"].items():
        if name in removed:
            continue
        r = walk(r)
        if "DependsOn" in r:
            deps = [d for d in ([r["DependsOn"]] if isinstance(r["DependsOn"], str) else r["DependsOn"]) if d not in removed]
            if deps:
                r["DependsOn"] = deps
            else:
                del r["DependsOn"]
        out["Resources"][name] = r
    out["Outputs"] = walk(tpl.get("Outputs", {}))
    return out


def wait_for_line(process, text: str, lines: int = 50) -> list:
    """Reads the process's output until `text` (its logs come first); fails if it exits."""
    seen = []
    for _ in range(lines):
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    process.kill()
    raise AssertionError(f"no {text!r} in:\n{''.join(seen)}{process.stderr.read()}")


def container_env(task_definition: dict) -> dict:
    return {e["name"]: e["value"] for e in task_definition["containerDefinitions"][0]["environment"] if e}


class EmulatorDeploy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.endpoint = f"http://127.0.0.1:{cls.port}"
        moto = ROOT / ".venv" / "bin" / "moto_server"
        cls.log = open(ROOT / "target" / "moto-infra.log", "w") if (ROOT / "target").is_dir() else subprocess.DEVNULL
        cls.server = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(cls.port)],
            stdout=cls.log, stderr=subprocess.STDOUT,
        )
        for _ in range(200):
            try:
                urllib.request.urlopen(cls.endpoint + "/moto-api/data.json", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto server did not start")
        cls.kw = dict(endpoint_url=cls.endpoint, region_name=REGION,
                      aws_access_key_id="test", aws_secret_access_key="test")
        cls.deploy()

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(10)

    @classmethod
    def client(cls, service):
        return boto3.client(service, **cls.kw)

    @classmethod
    def deploy(cls):
        s3 = cls.client("s3")
        s3.create_bucket(Bucket="deploy", CreateBucketConfiguration={"LocationConstraint": REGION})
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        s3.put_object(Bucket="deploy", Key="api.zip", Body=buf.getvalue())

        full = translate("s3://deploy/api.zip")
        supported = moto_supported_types()
        cls.removed = {n for n, r in full["Resources"].items() if r["Type"] not in supported}
        cls.unsupported_types = {full["Resources"][n]["Type"] for n in cls.removed}
        print("\nResources the emulator lacks (not deployed; what they do in AWS):", file=sys.stderr)
        for name in sorted(cls.removed):
            kind = full["Resources"][name]["Type"]
            print(f"  {name:34} {kind:46} {UNSUPPORTED.get(kind, '?')}", file=sys.stderr)
        print("Intrinsic functions the emulator lacks (evaluated by this test):",
              ", ".join(sorted(UNSUPPORTED_FUNCTIONS)), file=sys.stderr)
        for what, why in WORKAROUNDS.items():
            print(f"Emulator workaround, {what}: {why}", file=sys.stderr)
        for kind, prop in sorted(IGNORED_PROPERTIES):
            print(f"Emulator ignores {kind}.{prop} (not read back)", file=sys.stderr)
        cls.full = full
        tpl = without(full, cls.removed)
        work_around(tpl)

        # Stand-ins the processes need: the schedule group and the secrets they read.
        cls.client("scheduler").create_schedule_group(Name=STACK)
        sm = cls.client("secretsmanager")
        cls.bootstrap_value = "b0otstrapKeyValue0123456789abcdefGHIJKL"
        cls.token_value = "tokenKeyValue0123456789abcdefghijklmnopqrstuvwxyz"
        sm.create_secret(Name=f"{STACK}-TokenKeySecret", SecretString=cls.token_value)
        sm.create_secret(Name=f"{STACK}-BootstrapKeySecret", SecretString=cls.bootstrap_value)

        cf = cls.client("cloudformation")
        cf.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(tpl),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        for _ in range(300):
            stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
            if not stack["StackStatus"].endswith("_IN_PROGRESS"):
                break
            time.sleep(0.2)
        cls.stack = stack
        cls.resources = {
            r["LogicalResourceId"]: r
            for page in cf.get_paginator("list_stack_resources").paginate(StackName=STACK)
            for r in page["StackResourceSummaries"]
            if r["LogicalResourceId"]
        }

    def physical(self, logical):
        return self.resources[logical]["PhysicalResourceId"]

    def test_unsupported_resources_are_the_known_ones(self):
        self.assertEqual(self.unsupported_types, set(UNSUPPORTED))

    def test_every_supported_resource_is_created(self):
        self.assertEqual(self.stack["StackStatus"], "CREATE_COMPLETE", self.stack.get("StackStatusReason"))
        # Resources whose condition is false with these parameters are not created.
        expected = {n for n, r in self.full["Resources"].items()
                    if "Condition" not in r or condition(self.full, {"Condition": r["Condition"]})}
        expected -= self.removed
        self.assertGreater(len(expected), 40)
        self.assertEqual(set(self.resources), expected)
        for name, r in self.resources.items():
            self.assertEqual(r["ResourceStatus"], "CREATE_COMPLETE", name)

    def test_table(self):
        ddb = self.client("dynamodb")
        table = ddb.describe_table(TableName=self.physical("Table"))["Table"]
        self.assertEqual({k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}, {"pk": "HASH", "sk": "RANGE"})
        self.assertEqual(table["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")

    def test_queues_redrive_to_their_dead_letter_queues(self):
        sqs = self.client("sqs")
        key = self.physical("Key")
        for queue, dlq, visibility, kms in [("AgentQueue", "AgentDeadLetterQueue", "120", "alias/aws/sqs"),
                                            ("LifecycleQueue", "LifecycleDeadLetterQueue", "60", key)]:
            attrs = sqs.get_queue_attributes(QueueUrl=self.physical(queue), AttributeNames=["All"])["Attributes"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=self.physical(dlq), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            redrive = json.loads(attrs["RedrivePolicy"])
            self.assertEqual(redrive["deadLetterTargetArn"], dlq_arn)
            self.assertEqual(int(redrive["maxReceiveCount"]), 5)
            self.assertEqual(attrs["VisibilityTimeout"], visibility)
            self.assertEqual(attrs["KmsMasterKeyId"], kms)

    def test_roles_carry_the_templates_policies(self):
        iam = self.client("iam")
        for role in ("ApiRole", "WorkerTaskRole", "SchedulerRole", "WorkerExecutionRole", "InstanceExecutionRole"):
            name = self.physical(role)
            names = iam.list_role_policies(RoleName=name)["PolicyNames"]
            self.assertEqual(len(names), 1, role)
            doc = iam.get_role_policy(RoleName=name, PolicyName=names[0])["PolicyDocument"]
            if isinstance(doc, str):
                doc = json.loads(doc) if doc.startswith('{"') else ast.literal_eval(doc)
            actions = {a for st in doc["Statement"] for a in as_list(st["Action"])}
            template = {a for st in statements(self.full, role) for a in as_list(st["Action"])}
            self.assertEqual(actions, template, role)

    def test_task_definitions_and_service(self):
        ecs = self.client("ecs")
        worker = ecs.describe_task_definition(taskDefinition=self.physical("WorkerTaskDefinition"))["taskDefinition"]
        env = container_env(worker)
        self.assertEqual(env["OPERATOR_TABLE"], self.physical("Table"))
        self.assertEqual(env["OPERATOR_AGENT_QUEUE_URL"], self.physical("AgentQueue"))
        instance = ecs.describe_task_definition(taskDefinition=self.physical("InstanceTaskDefinition"))["taskDefinition"]
        self.assertNotIn("taskRoleArn", instance)
        self.assertEqual(instance["containerDefinitions"][0]["name"], env["OPERATOR_INSTANCE_CONTAINER"])
        self.assertEqual(instance["containerDefinitions"][0]["portMappings"][0]["containerPort"],
                         int(env["OPERATOR_INSTANCE_PORT"]))
        services = ecs.describe_services(cluster=self.physical("Cluster"),
                                         services=[self.physical("WorkerService")])["services"]
        self.assertEqual(services[0]["desiredCount"], 1)
        self.assertEqual(services[0]["taskDefinition"], self.physical("WorkerTaskDefinition"))

    def test_api_function(self):
        fn = self.client("lambda").get_function_configuration(FunctionName=self.physical("ApiFunction"))
        self.assertEqual(fn["Runtime"], "provided.al2023")
        self.assertEqual(fn["Handler"], "bootstrap")
        self.assertEqual(len(fn["VpcConfig"]["SubnetIds"]), 2)
        self.assertEqual(fn["Environment"]["Variables"]["OPERATOR_TABLE"], self.physical("Table"))

    def test_instance_exit_rule_targets_the_lifecycle_queue(self):
        # moto's input transformer inserts string values unquoted (EventBridge inserts them
        # as JSON strings), so events are not routed through it here: test_template.py
        # renders the rule's template as EventBridge does, and the AWS end-to-end test
        # delivers that job to a running worker.
        events, ecs, sqs = self.client("events"), self.client("ecs"), self.client("sqs")
        rule = self.physical("InstanceExitRule")
        pattern = json.loads(events.describe_rule(Name=rule)["EventPattern"])
        cluster = ecs.describe_clusters(clusters=[self.physical("Cluster")])["clusters"][0]
        self.assertEqual(pattern["detail"]["clusterArn"], [cluster["clusterArn"]])
        family = ecs.describe_task_definition(
            taskDefinition=self.physical("InstanceTaskDefinition"))["taskDefinition"]["family"]
        self.assertEqual(pattern["detail"]["group"], [f"family:{family}"])
        (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.physical("LifecycleQueue"),
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.assertEqual(target["Arn"], queue_arn)
        self.assertIn('"type": "InstanceExited"', target["InputTransformer"]["InputTemplate"])

    def test_key_and_logs(self):
        key = self.physical("Key")
        self.assertTrue(self.client("kms").get_key_rotation_status(KeyId=key)["KeyRotationEnabled"])
        groups = {g["logGroupName"]: g for g in self.client("logs").describe_log_groups()["logGroups"]}
        for lg in ("ApiLogGroup", "WorkerLogGroup", "InstanceLogGroup", "FlowLogGroup"):
            self.assertEqual(groups[self.physical(lg)]["retentionInDays"], 365, lg)

    # ---- the real binaries on the deployed configuration

    def binary(self, name):
        target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        path = target / "debug" / name
        self.assertTrue(path.exists(), f"{path} missing: run `cargo build --workspace` first")
        return path

    def process_env(self, variables: dict) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPERATOR_")}
        env.update(variables)
        env.update(OPERATOR_AWS_ENDPOINT_URL=self.endpoint, AWS_REGION=REGION,
                   AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   OPERATOR_SQS_WAIT_SECONDS="1")
        return env

    def test_worker_and_api_run_on_the_deployed_configuration(self):
        ecs = self.client("ecs")
        worker_td = ecs.describe_task_definition(taskDefinition=self.physical("WorkerTaskDefinition"))["taskDefinition"]
        worker_env = container_env(worker_td)
        # Three workers start at once, as a scaled-out first deploy would.
        workers = [subprocess.Popen([str(self.binary("worker"))], env=self.process_env(worker_env),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(3)]
        worker = workers[0]
        api = None
        try:
            out = wait_for_line(worker, "worker ready")
            for other in workers[1:]:
                wait_for_line(other, "worker ready")
            # Between them they created one first account, from the bootstrap secret.
            ddb = self.client("dynamodb")
            marker = ddb.get_item(TableName=self.physical("Table"),
                                  Key={"pk": {"S": "META"}, "sk": {"S": "FIRST_ACCOUNT"}}, ConsistentRead=True)
            self.assertIn("Item", marker)
            accounts = ddb.scan(TableName=self.physical("Table"), ConsistentRead=True,
                                FilterExpression="sk = :a AND begins_with(pk, :p)",
                                ExpressionAttributeValues={":a": {"S": "A"}, ":p": {"S": "ACCT#"}})["Items"]
            self.assertEqual(len(accounts), 1, accounts)

            fn = self.client("lambda").get_function_configuration(FunctionName=self.physical("ApiFunction"))
            api_env = dict(fn["Environment"]["Variables"])
            port = free_port()
            api_env["OPERATOR_ADDR"] = f"127.0.0.1:{port}"
            api_env["OPERATOR_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
            api = subprocess.Popen([str(self.binary("api"))], env=self.process_env(api_env),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_for_line(api, "Listening on")
            key = f"ck_live_{self.bootstrap_value}"
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/instances",
                                         headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                self.assertEqual(resp.status, 200)
                self.assertEqual(json.loads(resp.read())["instances"], [])
            # An instance create goes through the stack's lifecycle queue to the worker,
            # which asks the stack's cluster for a task (moto records it).
            body = json.dumps({"name": "deploy-check"}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/instances", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {key}",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                self.assertIn(resp.status, (200, 201, 202))
            for _ in range(100):
                arns = ecs.list_tasks(cluster=self.physical("Cluster"))["taskArns"]
                if arns:
                    break
                time.sleep(0.1)
            if not arns:
                worker.terminate()
                self.fail("the worker started no instance task in the stack's cluster:\n"
                          + "".join(out) + worker.stdout.read() + worker.stderr.read())
            task = ecs.describe_tasks(cluster=self.physical("Cluster"), tasks=arns)["tasks"][0]
            # The instance runs its own task definition: the stack's, on the stack's file
            # system through an access point of its own (workspaces survive restarts).
            own = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
            base = self.physical("InstanceTaskDefinition").rsplit(":", 1)[0].rsplit("/", 1)[1]
            self.assertEqual(own["family"], f"{base}-{task['startedBy']}")
            self.assertEqual(task["group"], f"family:{base}")
            (volume,) = [v for v in own["volumes"] if v["name"] == "workspace"]
            self.assertEqual(volume["efsVolumeConfiguration"]["fileSystemId"], self.physical("WorkspaceFileSystem"))
            self.assertEqual(own["containerDefinitions"][0]["mountPoints"],
                             [{"sourceVolume": "workspace", "containerPath": "/workspace", "readOnly": False}])
            self.assertNotIn(self.bootstrap_value, json.dumps(task, default=str))
        finally:
            for p in (*workers, api):
                if p is not None:
                    p.terminate()
                    try:
                        p.wait(20)
                    except subprocess.TimeoutExpired:
                        p.kill()
            for p in (*workers, api):
                if p is not None:
                    logs = p.stdout.read() + p.stderr.read()
                    for secret in (self.bootstrap_value, self.token_value):
                        self.assertNotIn(secret, logs, "a secret reached the logs")


if __name__ == "__main__":
    unittest.main()
