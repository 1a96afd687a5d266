"""The template against the code: every environment variable each binary reads is set for
it, and every role allows exactly the AWS actions its component's adapters call (read off
the adapter sources), on this stack's resources only.

    .venv/bin/python -m unittest discover -s infra/tests -v
"""

import json
import pathlib
import re
import unittest

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"


def load_template() -> dict:
    tpl, matches = decode(str(TEMPLATE))
    assert not matches, [str(m) for m in matches]
    return tpl


def source(path: str) -> str:
    """A Rust file without its `#[cfg(test)]` module; for a directory (a module tree), every
    file in it, in name order."""
    target = ROOT / path
    if target.is_dir():
        files = sorted(target.rglob("*.rs"))
        assert files, f"no Rust files under {path}"
        return "\n".join(f.read_text().split("#[cfg(test)]", 1)[0] for f in files)
    text = target.read_text()
    return text.split("#[cfg(test)]", 1)[0]


# ------------------------------------------------------------------ environment variables

ENV_READ = re.compile(
    r'(?:env::var(?:_os)?|\bvar|\bopt|\blist|\benv)\(\s*"([A-Z][A-Z0-9_]*)"\s*\)'
    r'|#\[arg\([^)]*env\s*=\s*"([A-Z][A-Z0-9_]*)"'
)
# LlmConfig picks the provider's key variable from a table: ("<url>", "OPENAI_API_KEY").
KEY_VAR = re.compile(r'\(\s*"https://[^"]+",\s*"([A-Z][A-Z0-9_]*_API_KEY)"\s*\)')
# `var("X")`/`list("X")` in platform.rs fail the process when X is missing.
REQUIRED_READ = re.compile(r'\b(?:var|list)\(\s*"([A-Z][A-Z0-9_]*)"\s*\)')

# The code each binary runs at start (where it reads its environment).
BINARY_SOURCES = {
    "api": [
        "functions/api/src/main.rs",
        "crates/aws/src/platform.rs",
        "crates/core/src/services/mod.rs",
        "crates/core/src/services/warm_pool.rs",
        "crates/core/src/llm/config.rs",
        "crates/core/src/http/cors.rs",
        "crates/telemetry/src/lib.rs",
    ],
    "worker": [
        "worker/src/main.rs",
        "crates/aws/src/platform.rs",
        "crates/core/src/services/mod.rs",
        "crates/core/src/services/warm_pool.rs",
        "crates/core/src/llm/config.rs",
        "crates/core/src/jobs.rs",
        "crates/telemetry/src/lib.rs",
    ],
    "instance": sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "crates/instance/src").rglob("*.rs")
    )
    + ["crates/telemetry/src/lib.rs"],
}

# Alternatives: a process needs one of each group.
ONE_OF = [{"OPERATOR_TOKEN_KEY", "OPERATOR_TOKEN_KEY_SECRET_ARN"}]

# Variables a binary reads that a deployment deliberately leaves unset, and why.
NOT_SET = {
    "api": {
        "OPERATOR_AWS_ENDPOINT_URL": "emulators only; the real service endpoints are the default",
        "OPERATOR_OPENCLAW_TASK_CPU": "optional: openclaw instances' tasks get 1024 CPU units",
        "OPERATOR_OPENCLAW_TASK_MEMORY": "optional: openclaw instances' tasks get 3072 MiB",
        "OPERATOR_TOKEN_KEY": "the key is read from OPERATOR_TOKEN_KEY_SECRET_ARN instead",
        "OPENAI_API_KEY": "the provider key is read from OPERATOR_LLM_API_KEY_SECRET_ARN",
        "ANTHROPIC_API_KEY": "the provider key is read from OPERATOR_LLM_API_KEY_SECRET_ARN",
        "OPERATOR_ADDR": "only outside Lambda (the binary then serves HTTP itself)",
        "AWS_LAMBDA_RUNTIME_API": "set by Lambda",
        "OPERATOR_SQS_WAIT_SECONDS": "long polling is for consumers; the API only sends",
        "OPERATOR_BOOTSTRAP_KEY_SECRET_ARN": "only the worker creates the first account",
        "OPERATOR_LLM_IDLE_TIMEOUT_SECS": "optional: the default (300 s) applies",
        "OPERATOR_EFS_FILE_SYSTEM_ID": "only workers mount the workspace file system",
        "OPERATOR_WORKSPACES_DIR": "only workers mount the workspace file system",
        "OPERATOR_INSTANCE_UID": "only workers make workspace access points",
        "OPERATOR_INSTANCE_GID": "only workers make workspace access points",
    },
    "worker": {
        "OPERATOR_AWS_ENDPOINT_URL": "emulators only; the real service endpoints are the default",
        "OPERATOR_OPENCLAW_TASK_CPU": "optional: openclaw instances' tasks get 1024 CPU units",
        "OPERATOR_OPENCLAW_TASK_MEMORY": "optional: openclaw instances' tasks get 3072 MiB",
        "OPERATOR_TOKEN_KEY": "the key is read from OPERATOR_TOKEN_KEY_SECRET_ARN instead",
        "OPENAI_API_KEY": "the provider key is read from OPERATOR_LLM_API_KEY_SECRET_ARN",
        "ANTHROPIC_API_KEY": "the provider key is read from OPERATOR_LLM_API_KEY_SECRET_ARN",
        "OPERATOR_LLM_IDLE_TIMEOUT_SECS": "optional: the default (300 s) applies",
        "OPERATOR_INSTANCE_UID": "optional: the instance image's user, 10001 (infra/docker/instance.Dockerfile)",
        "OPERATOR_INSTANCE_GID": "optional: the instance image's group, 10001",
    },
    "instance": {
        "OPERATOR_WORKSPACE": "given as --workspace in the image's entry point",
        "OPERATOR_LLM_MODEL": "optional: the gateway's default model applies",
        "OPERATOR_CHECKPOINT_REPO": "only clones carry one (EcsRuntime sets it when present)",
        "PATH": "the image's own (to find a browser when OPERATOR_CHROMIUM is unset)",
        "OPERATOR_CHECKPOINT_LOCAL_PREFIX": "embedded only: a Fargate instance clones remote repositories only",
    },
}

# Variables the API may go without, in the template only under a condition.
CONDITIONAL = {
    "api": {
        "OPERATOR_PUBLIC_URL": "a function cannot be configured with its own Function URL; "
        "without PublicUrl the API takes it from the first request's Host",
    },
}


def env_reads(binary: str) -> tuple[set, set]:
    """(every variable the binary reads, those it cannot start without)."""
    reads, required = set(), set()
    for path in BINARY_SOURCES[binary]:
        text = source(path)
        for a, b in ENV_READ.findall(text):
            reads.add(a or b)
        reads.update(KEY_VAR.findall(text))
        if "try_from_default_env" in text:
            reads.add("RUST_LOG")
        if path.endswith("platform.rs"):
            required.update(REQUIRED_READ.findall(text))
    return reads, required


def is_conditional(value) -> bool:
    """Whether some combination of conditions leaves the value out."""
    if not (isinstance(value, dict) and "Fn::If" in value):
        return False
    return any(b == {"Ref": "AWS::NoValue"} or is_conditional(b) for b in value["Fn::If"][1:])


def lambda_env(tpl: dict, name: str) -> dict:
    return dict(tpl["Resources"][name]["Properties"]["Environment"]["Variables"])


def container_env(tpl: dict, task_def: str) -> dict:
    container = tpl["Resources"][task_def]["Properties"]["ContainerDefinitions"][0]
    env = {}
    for item in container.get("Environment", []):
        if "Fn::If" in item:  # [condition, {Name, Value}, NoValue]
            env[item["Fn::If"][1]["Name"]] = {"Fn::If": [item["Fn::If"][0], item["Fn::If"][1]["Value"], {"Ref": "AWS::NoValue"}]}
        else:
            env[item["Name"]] = item["Value"]
    return env


def dockerfile_env(path: str) -> set:
    text = (ROOT / path).read_text()
    names = set()
    for block in re.findall(r"^ENV\s+((?:.*\\\n)*.*)$", text, re.M):
        names.update(re.findall(r"([A-Z][A-Z0-9_]*)=", block))
    return names


def runtime_overrides() -> set:
    """What EcsRuntime puts in every instance task's environment."""
    body = source("crates/aws/src/ecs/mod.rs").split("fn environment", 1)[1].split("\n    }\n", 1)[0]
    return set(re.findall(r'"(OPERATOR_[A-Z0-9_]+)"', body))


class Environment(unittest.TestCase):
    def setUp(self):
        self.tpl = load_template()

    def check(self, binary: str, env: dict):
        reads, required = env_reads(binary)
        self.assertTrue(required, "found no required variables: the scan is broken")
        not_set = NOT_SET.get(binary, {})
        conditional = CONDITIONAL.get(binary, {})
        missing = reads - set(env) - set(not_set)
        self.assertFalse(missing, f"{binary} reads these, the template does not set them")
        stale = set(env) - reads
        self.assertFalse(stale, f"the template sets these for {binary}, which never reads them")
        for name in required - set(conditional):
            group = next((g for g in ONE_OF if name in g), {name})
            name = next((n for n in sorted(group) if n in env), name)
            self.assertIn(name, env, f"{binary} cannot start without {' or '.join(sorted(group))}")
            self.assertFalse(is_conditional(env[name]), f"{name} must be set unconditionally for {binary}")
        for name, value in env.items():
            if is_conditional(value):
                self.assertIn(name, conditional | {"OPERATOR_LLM_API_KEY_SECRET_ARN": ""},
                              f"{name} is set only under a condition for {binary}")
        for name in not_set:
            self.assertIn(name, reads, f"NOT_SET lists {name}, which {binary} no longer reads")

    def test_api_function(self):
        self.check("api", lambda_env(self.tpl, "ApiFunction"))

    def test_worker(self):
        env = container_env(self.tpl, "WorkerTaskDefinition")
        self.check("worker", env)
        self.assertFalse(is_conditional(env["OPERATOR_PUBLIC_URL"]),
                         "the worker passes the public URL to instances; it must always have one")

    def test_instance(self):
        reads, _ = env_reads("instance")
        self.assertIn("OPERATOR_CONTROL_URL", reads)
        provided = (runtime_overrides() | dockerfile_env("infra/docker/instance.Dockerfile")
                    | set(container_env(self.tpl, "InstanceTaskDefinition")))
        missing = reads - provided - set(NOT_SET["instance"]) - {"RUST_LOG"}
        self.assertFalse(missing, "the instance reads these; neither the runtime, the image nor the task sets them")
        self.assertIn("--workspace", (ROOT / "infra/docker/instance.Dockerfile").read_text())


# ------------------------------------------------------------------ IAM

SDK_CALL = re.compile(r"(?:\bclient|Client::new\([^)]*\))\s*\.\s*([a-z_]+)\(\)")

ADAPTERS = {
    "store": ("crates/aws/src/dynamo", "dynamodb"),
    "queue": ("crates/aws/src/sqs.rs", "sqs"),
    "vault": ("crates/aws/src/secrets.rs", "secretsmanager"),
    "scheduler": ("crates/aws/src/scheduler.rs", "scheduler"),
    "runtime": ("crates/aws/src/ecs", "ecs"),
    "workspaces": ("crates/aws/src/efs.rs", "elasticfilesystem"),
    "startup": ("crates/aws/src/platform.rs", "secretsmanager"),
}

# SDK calls no deployed process makes.
NOT_DEPLOYED = {
    "dynamodb:CreateTable": "DynamoStore::create_table is for development and tests; the template makes the table",
}


def pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def adapter_actions(adapter: str) -> set:
    path, service = ADAPTERS[adapter]
    text = source(path)
    actions = set()
    for call in SDK_CALL.findall(text):
        if service == "dynamodb" and call == "transact_write_items":
            # No IAM action of its own: each item needs its own action.
            for kind, action in [("Put", "PutItem"), ("Update", "UpdateItem"),
                                 ("Delete", "DeleteItem"), ("ConditionCheck", "ConditionCheckItem")]:
                if re.search(rf"\b{kind}::builder\(\)", text):
                    actions.add(f"dynamodb:{action}")
            continue
        actions.add(f"{service}:{pascal(call)}")
    return actions - set(NOT_DEPLOYED)


ALL = object()

# Which adapters' calls each component makes (ALL, or the subset with the reason).
ROLE_USES = {
    "ApiRole": {
        "store": ALL,
        # JobQueue::send only: the API enqueues; the worker receives, acks and dead-letters.
        "queue": {"sqs:SendMessage"},
        "vault": ALL,
        "scheduler": ALL,
        "startup": ALL,
    },
    "WorkerTaskRole": {name: ALL for name in ADAPTERS},
    "WorkerExecutionRole": {},
    "InstanceExecutionRole": {},
    "SchedulerRole": {},
    "FlowLogRole": {},
}

# Actions that are not SDK calls in the code but that the calls (or the platform around
# the process) need, per role, with the reason.
IMPLIED = {
    "ApiRole": {
        "secretsmanager:TagResource": "CreateSecret tags each secret with its account",
        "iam:PassRole": "CreateSchedule/UpdateSchedule hand the scheduler role to EventBridge",
        "kms:Decrypt": "the table, the vault's secrets and the lifecycle queues use the stack key",
        "kms:Encrypt": "the table, the vault's secrets and the lifecycle queues use the stack key",
        "kms:GenerateDataKey": "the table, the vault's secrets and the lifecycle queues use the stack key",
        "kms:DescribeKey": "the table, the vault's secrets and the lifecycle queues use the stack key",
        "logs:CreateLogStream": "Lambda writes the function's logs",
        "logs:PutLogEvents": "Lambda writes the function's logs",
        "ec2:CreateNetworkInterface": "the function runs in the VPC (it calls instances' private IPs)",
        "ec2:DeleteNetworkInterface": "the function runs in the VPC",
        "ec2:AssignPrivateIpAddresses": "the function runs in the VPC",
        "ec2:UnassignPrivateIpAddresses": "the function runs in the VPC",
        "ec2:DescribeNetworkInterfaces": "the function runs in the VPC",
        "ec2:DescribeSubnets": "the function runs in the VPC",
    },
    "WorkerTaskRole": {
        "secretsmanager:TagResource": "CreateSecret tags each secret with its account",
        "ecs:TagResource": "RunTask and RegisterTaskDefinition tag each instance's task and task definition",
        "elasticfilesystem:TagResource": "CreateAccessPoint tags each workspace access point with its instance",
        "iam:PassRole": "RunTask and RegisterTaskDefinition hand the instance execution role to ECS; schedules the scheduler role",
        "kms:Decrypt": "the table, the vault's secrets and the lifecycle queues use the stack key",
        "kms:Encrypt": "the table, the vault's secrets and the lifecycle queues use the stack key",
        "kms:GenerateDataKey": "the table, the vault's secrets and the lifecycle queues use the stack key",
        "kms:DescribeKey": "the table, the vault's secrets and the lifecycle queues use the stack key",
    },
    "WorkerExecutionRole": {
        "ecr:GetAuthorizationToken": "ECS logs in to the registry",
        "ecr:BatchGetImage": "ECS pulls the worker image",
        "ecr:GetDownloadUrlForLayer": "ECS pulls the worker image",
        "ecr:BatchCheckLayerAvailability": "ECS pulls the worker image",
        "kms:Decrypt": "the repository is encrypted with the stack key",
        "logs:CreateLogStream": "the awslogs driver",
        "logs:PutLogEvents": "the awslogs driver",
    },
    "InstanceExecutionRole": {
        "ecr:GetAuthorizationToken": "ECS logs in to the registry",
        "ecr:BatchGetImage": "ECS pulls the instance image",
        "ecr:GetDownloadUrlForLayer": "ECS pulls the instance image",
        "ecr:BatchCheckLayerAvailability": "ECS pulls the instance image",
        "kms:Decrypt": "the repository is encrypted with the stack key",
        "logs:CreateLogStream": "the awslogs driver",
        "logs:PutLogEvents": "the awslogs driver",
    },
    "SchedulerRole": {
        "sqs:SendMessage": "EventBridge Scheduler delivers automation fires to the agent queue",
    },
    "FlowLogRole": {
        "logs:CreateLogStream": "VPC flow logs",
        "logs:PutLogEvents": "VPC flow logs",
        "logs:DescribeLogStreams": "VPC flow logs",
    },
}

# Resources that cannot name one of this stack's: the network interfaces Lambda creates
# for the function in the VPC do not exist (and have no id) before it makes them.
# Nor can the access points the worker makes per instance (scoped by their tag instead).
ACCOUNT_WIDE = {"network-interface/*", "access-point/*"}

# Actions with no resource-level permissions: `*` is the only resource they accept.
STAR_RESOURCE = {
    "ec2:DescribeNetworkInterfaces": None,
    "ec2:DescribeSubnets": None,
    "ecr:GetAuthorizationToken": None,
    # Resource-wise only "container-instance"; scoped to the cluster by condition instead.
    "ecs:ListTasks": "ecs:cluster",
    "ecs:DescribeTaskDefinition": None,
    "ecs:RegisterTaskDefinition": None,
    "ecs:DeregisterTaskDefinition": None,
}

# Task definition ARNs end in `:<revision>`; a statement on this stack's instance families
# may take every revision.
REVISIONS = re.compile(r"task-definition/\$\{AWS::StackName\}-instance-?\*:\*$")


def as_list(v):
    return v if isinstance(v, list) else [v]


def statements(tpl: dict, role: str) -> list:
    props = tpl["Resources"][role]["Properties"]
    out = []
    for policy in props.get("Policies", []):
        out.extend(policy["PolicyDocument"]["Statement"])
    return out


def resource_refs(value) -> set:
    """Logical ids and pseudo parameters a resource expression refers to."""
    if isinstance(value, str):
        return set(re.findall(r"\$\{([A-Za-z0-9:]+)(?:\.[A-Za-z]+)?\}", value))
    if isinstance(value, list):
        return set().union(*(resource_refs(v) for v in value)) if value else set()
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return {target[0] if isinstance(target, list) else target.split(".")[0]}
        if "Fn::Sub" in value:
            return resource_refs(value["Fn::Sub"])
        if "Fn::If" in value:
            return resource_refs(value["Fn::If"][1:])
        return set().union(*(resource_refs(v) for v in value.values()))
    return set()


class Iam(unittest.TestCase):
    def setUp(self):
        self.tpl = load_template()

    def test_the_scan_sees_the_adapters_calls(self):
        # Guards against a scan that finds nothing and so passes vacuously.
        self.assertIn("dynamodb:UpdateItem", adapter_actions("store"))
        self.assertIn("dynamodb:PutItem", adapter_actions("store"))
        self.assertIn("sqs:ReceiveMessage", adapter_actions("queue"))
        self.assertIn("ecs:RunTask", adapter_actions("runtime"))
        self.assertIn("scheduler:CreateSchedule", adapter_actions("scheduler"))
        self.assertEqual(adapter_actions("startup"), {"secretsmanager:GetSecretValue"})

    def test_every_role_is_tested(self):
        roles = {k for k, r in self.tpl["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
        self.assertEqual(roles, set(ROLE_USES))

    def test_each_role_allows_exactly_what_its_component_calls(self):
        for role, uses in ROLE_USES.items():
            with self.subTest(role=role):
                expected = set(IMPLIED[role])
                for adapter, subset in uses.items():
                    calls = adapter_actions(adapter)
                    if subset is ALL:
                        expected |= calls
                    else:
                        self.assertLessEqual(subset, calls, f"{role}: {adapter} makes no such call")
                        expected |= subset
                allowed = set()
                for st in statements(self.tpl, role):
                    self.assertEqual(st["Effect"], "Allow")
                    allowed.update(as_list(st["Action"]))
                self.assertEqual(sorted(expected - allowed), [], f"{role} lacks actions its component calls")
                self.assertEqual(sorted(allowed - expected), [], f"{role} allows actions nothing calls")

    def test_no_wildcards_and_resources_are_this_stacks(self):
        resources = set(self.tpl["Resources"])
        for role in ROLE_USES:
            for st in statements(self.tpl, role):
                where = f"{role}/{st.get('Sid', st['Action'])}"
                for action in as_list(st["Action"]):
                    self.assertNotIn("*", action, where)
                    self.assertRegex(action, r"^[a-z0-9-]+:[A-Za-z]+$", where)
                for res in as_list(st["Resource"]):
                    if res == "*":
                        for action in as_list(st["Action"]):
                            self.assertIn(action, STAR_RESOURCE, f"{where}: {action} on *")
                            key = STAR_RESOURCE[action]
                            if key:
                                conditions = {k for c in st.get("Condition", {}).values() for k in c}
                                self.assertIn(key, conditions, f"{where}: {action} needs a {key} condition")
                        continue
                    refs = resource_refs(res)
                    text = res.get("Fn::Sub") if isinstance(res, dict) else None
                    if isinstance(text, str) and text.endswith(tuple(f":{r}" for r in ACCOUNT_WIDE)):
                        self.assertIn("${AWS::AccountId}", text, where)
                        if text.endswith(":access-point/*"):
                            conditions = {k for c in st.get("Condition", {}).values() for k in c}
                            self.assertTrue(
                                conditions & {"aws:ResourceTag/operator:instance", "aws:RequestTag/operator:instance"},
                                f"{where}: access points only by their operator:instance tag",
                            )
                        continue
                    self.assertTrue(
                        refs & (resources | {"AWS::StackName", "LlmApiKeySecretArn"}),
                        f"{where}: {res} names no resource of this stack",
                    )
                    if isinstance(res, dict) and "Fn::Sub" in res:
                        text = res["Fn::Sub"] if isinstance(res["Fn::Sub"], str) else res["Fn::Sub"][0]
                        text = REVISIONS.sub("task-definition/${AWS::StackName}-instance", text)
                        self.assertNotRegex(text, r":\*:|:\*$|^\*", f"{where}: {text} is not scoped")

    def test_the_api_never_consumes_jobs_or_touches_tasks(self):
        allowed = {a for st in statements(self.tpl, "ApiRole") for a in as_list(st["Action"])}
        self.assertFalse({a for a in allowed if a.startswith("ecs:")})
        self.assertNotIn("sqs:ReceiveMessage", allowed)
        self.assertNotIn("sqs:DeleteMessage", allowed)

    def test_the_scheduler_role_only_sends_to_the_agent_queue(self):
        (st,) = statements(self.tpl, "SchedulerRole")
        self.assertEqual(as_list(st["Action"]), ["sqs:SendMessage"])
        self.assertEqual(
            resource_refs(st["Resource"]), {"AgentQueue", "AgentDeadLetterQueue"}
        )
        # The queues use the AWS-managed SQS key, so sending needs no KMS permission.
        for q in ("AgentQueue", "AgentDeadLetterQueue"):
            self.assertEqual(self.tpl["Resources"][q]["Properties"]["KmsMasterKeyId"], "alias/aws/sqs")

    def test_instances_have_no_role(self):
        props = self.tpl["Resources"]["InstanceTaskDefinition"]["Properties"]
        self.assertNotIn("TaskRoleArn", props)

    def test_passed_roles_are_pinned_to_their_service(self):
        for role in ("ApiRole", "WorkerTaskRole"):
            for st in statements(self.tpl, role):
                if "iam:PassRole" in as_list(st["Action"]):
                    self.assertIn("iam:PassedToService", st["Condition"]["StringEquals"])


# ------------------------------------------------------------------ events

def camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(p.capitalize() for p in rest)


def job_variants() -> dict:
    """Job variant -> its JSON field names, read from crates/core/src/job.rs
    (`#[serde(tag = "type", rename_all_fields = "camelCase")]`)."""
    text = source("crates/core/src/job.rs")
    assert '#[serde(tag = "type", rename_all_fields = "camelCase")]' in text
    body = text.split("pub enum Job {", 1)[1].split("\n}\n", 1)[0]
    variants = {}
    for m in re.finditer(r"^ {4}([A-Z]\w+) \{\n(.*?)^ {4}\},", body, re.S | re.M):
        variants[m.group(1)] = {camel(f) for f in re.findall(r"^ {8}([a-z_]+):", m.group(2), re.M)}
    return variants


class Events(unittest.TestCase):
    def setUp(self):
        self.tpl = load_template()

    def test_the_exit_rule_renders_an_instance_exited_job(self):
        rule = self.tpl["Resources"]["InstanceExitRule"]["Properties"]
        (target,) = rule["Targets"]
        self.assertEqual(target["Arn"], {"Fn::GetAtt": ["LifecycleQueue", "Arn"]})
        transformer = target["InputTransformer"]
        rendered = transformer["InputTemplate"]
        for name in transformer["InputPathsMap"]:
            rendered = rendered.replace(f"<{name}>", json.dumps(f"sample {name}"))
        job = json.loads(rendered)
        variants = job_variants()
        self.assertIn("InstanceProvision", variants)
        self.assertEqual(set(job) - {"type"}, variants[job["type"]], "the rule's job does not match crates/core/src/job.rs")
        # The instance id is the task's startedBy, as EcsRuntime sets it.
        self.assertEqual(transformer["InputPathsMap"]["instance"], "$.detail.startedBy")
        self.assertIn(".started_by(spec.instance.id.as_str())", source("crates/aws/src/ecs"))

    def test_the_exit_rule_matches_this_stacks_instance_tasks_stopping_on_their_own(self):
        detail = self.tpl["Resources"]["InstanceExitRule"]["Properties"]["EventPattern"]["detail"]
        self.assertEqual(detail["clusterArn"], [{"Fn::GetAtt": ["Cluster", "Arn"]}])
        family = self.tpl["Resources"]["InstanceTaskDefinition"]["Properties"]["Family"]["Fn::Sub"]
        self.assertEqual(detail["group"], [{"Fn::Sub": f"family:{family}"}])
        self.assertEqual(detail["lastStatus"], ["STOPPED"])
        self.assertEqual(detail["stopCode"], [{"anything-but": "UserInitiated"}])

    def test_lifecycle_jobs_are_dead_lettered_after_the_deliveries_the_worker_counts_on(self):
        # The worker fails an instance on its job's last delivery (LIFECYCLE_MAX_RECEIVES).
        (n,) = re.findall(r"pub const LIFECYCLE_MAX_RECEIVES: u32 = (\d+);", source("crates/core/src/services/runtime.rs"))
        redrive = self.tpl["Resources"]["LifecycleQueue"]["Properties"]["RedrivePolicy"]
        self.assertEqual(int(redrive["maxReceiveCount"]), int(n))

    def test_only_the_rule_sends_to_the_lifecycle_queue(self):
        props = self.tpl["Resources"]["LifecycleQueuePolicy"]["Properties"]
        self.assertEqual(props["Queues"], [{"Ref": "LifecycleQueue"}])
        (st,) = props["PolicyDocument"]["Statement"]
        self.assertEqual(st["Principal"], {"Service": "events.amazonaws.com"})
        self.assertEqual(as_list(st["Action"]), ["sqs:SendMessage"])
        self.assertEqual(st["Condition"]["ArnEquals"]["aws:SourceArn"], {"Fn::GetAtt": ["InstanceExitRule", "Arn"]})


class Lint(unittest.TestCase):
    def test_every_suppressed_finding_is_justified(self):
        tpl = load_template()
        seen = 0
        for name, r in tpl["Resources"].items():
            for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", []):
                seen += 1
                self.assertRegex(skip["id"], r"^CKV2?_AWS_\d+$", name)
                self.assertGreater(len(skip.get("comment", "").split()), 5, f"{name}: {skip['id']} needs a reason")
        self.assertGreater(seen, 0)


if __name__ == "__main__":
    unittest.main()
